"""Recognising what a file is: NIfTI-1 or -2 and its byte order, or what else it looks like."""

from __future__ import annotations

from .findings import InvalidNifti, _preview
from .sources import _GZIP_MAGIC

_LOOKS_LIKE = (
    (lambda b: b[128:132] == b"DICM", "a DICOM file; convert it to NIfTI first (e.g. with dcm2niix)"),
    (lambda b: b[:4] == b"PK\x03\x04", "a ZIP archive; unpack it and upload the .nii or .nii.gz inside"),
    (lambda b: b[:2] == _GZIP_MAGIC, "a gzip file inside a gzip file (compressed twice)"),
    (lambda b: b[:3] == b"BZh", "a bzip2 archive, not a NIfTI file"),
    (lambda b: b[:6] == b"\xfd7zXZ\x00", "an xz archive, not a NIfTI file"),
    (lambda b: b[:4] == b"\x28\xb5\x2f\xfd", "a zstd archive, not a NIfTI file"),
    (lambda b: b[:4] == b"%PDF", "a PDF document"),
    (lambda b: b[:8] == b"\x89PNG\r\n\x1a\n", "a PNG picture"),
    (lambda b: b[:3] == b"\xff\xd8\xff", "a JPEG picture"),
    (lambda b: b[:8] == b"\x89HDF\r\n\x1a\n", "an HDF5 file (MINC 2?), not NIfTI"),
    (lambda b: b[:4] == b"NRRD", "an NRRD file, not NIfTI"),
    (lambda b: b[257:262] == b"ustar", "a tar archive; upload it as .tar or .tar.gz to have its maps unpacked"),
    (lambda b: b[:6] == b"7z\xbc\xaf\x27\x1c" or b[:4] == b"Rar!", "a 7-Zip or RAR archive; upload a .zip, .tar "
                                                                     "or .tar.gz instead"),
    (lambda b: b[:4] == b"\x00\x00\x00\x01" and len(b) >= 8 and b[4:8] != b"\x00\x00\x00\x00",
     "a FreeSurfer MGH/MGZ volume; convert it to NIfTI first (mri_convert map.mgz map.nii.gz)"),
    (lambda b: b[:4] in (b"CDF\x01", b"CDF\x02"), "a MINC 1 (NetCDF) file; convert it to NIfTI first (mnc2nii)"),
    (lambda b: b[:12] == b"mrtrix image", "an MRtrix .mif image; convert it to NIfTI first (mrconvert map.mif "
                                          "map.nii.gz)"),
    (lambda b: b.lstrip()[:5] == b"<?xml" and b"GIFTI" in b, "a GIFTI surface file (.gii): surface data, not a "
                                                              "volume; neurodrop takes volume maps"),
    (lambda b: _looks_like_html(b), "an HTML page"),
    (lambda b: b.lstrip()[:1] in (b"{", b"["), "a JSON document"),
    (lambda b: _looks_like_text(b), "a text file"),
)


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip().lower()
    return start[:1] == b"<" and start[1:2].isalpha() or start.startswith((b"<!doctype", b"<?xml", b"<!--"))


def _looks_like_text(head: bytes) -> bool:
    sample = head[:512]
    return bool(sample) and all(32 <= c < 127 or c in (9, 10, 13) for c in sample)


def _not_nifti(head: bytes, compressed: bool) -> InvalidNifti:
    inside = "a gzip file holding " if compressed and head[:2] != _GZIP_MAGIC else ""
    for test, description in _LOOKS_LIKE:
        if test(head):
            return InvalidNifti("file", _preview(head),
                                f"this looks like {inside}{description}, not a NIfTI file "
                                f"(it starts with {_preview(head)})")
    size_le = int.from_bytes(head[:4].ljust(4, b"\0"), "little", signed=True)
    return InvalidNifti("sizeof_hdr", size_le,
                        f"sizeof_hdr={size_le}: a NIfTI file starts with 348 (NIfTI-1) or 540 (NIfTI-2); "
                        f"this is not a NIfTI file (it starts with {_preview(head)})")


def _identify(head: bytes, compressed: bool) -> tuple[str, str, int]:
    """(format, byte order, header size) from sizeof_hdr read in both byte orders."""
    for fmt, size in (("NIfTI-1", 348), ("NIfTI-2", 540)):
        for endian, order in (("<", "little"), (">", "big")):
            if len(head) >= 4 and int.from_bytes(head[:4], order, signed=True) == size:
                if len(head) < size:
                    raise InvalidNifti("file", len(head),
                                       f"file={len(head)} bytes{' after decompression' if compressed else ''}: "
                                       f"shorter than the {size}-byte {fmt} header it starts; "
                                       "the file is truncated")
                return fmt, endian, size
    raise _not_nifti(head, compressed)
