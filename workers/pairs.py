"""NIfTI-1 pairs and Analyze 7.5 (``.hdr`` + ``.img``, either byte order, gzipped too) as one ``.nii.gz``.

SPM and older tools write a map as two files. The rest of neurodrop reads single-file NIfTI, so a pair is
converted once, here, and the original pair is kept for download. nibabel reads the pair (it knows SPM's
Analyze variant: the origin in ``originator`` and the scale factor in ``funused1``); before that, the header is
checked against the bounds a single upload has (the decompressed size and the array size), so a hostile header
cannot make the worker allocate what it describes. Pure: paths in, a path and plain notes out.
"""

import gzip
import struct
from pathlib import Path

import nibabel as nib
import numpy as np

HEADER_BYTES = 348
NIFTI1_PAIR_MAGIC = b"ni1\x00"
COPY_CHUNK = 1024 * 1024

ANALYZE_ORIENTATION = (
    "Analyze 7.5 has no orientation field: the voxels are assumed stored in radiological order (left and right "
    "flipped, LAS, as SPM and nibabel assume), with the origin from SPM's originator field (else the volume's "
    "centre) and the voxel sizes from pixdim; a missing SPM .mat file means no other rotation is known. "
    "Check the left-right direction against a known landmark."
)

#: NIfTI datatype code -> bytes per voxel, for the size check before nibabel reads anything.
DATATYPE_BYTES = {2: 1, 4: 2, 8: 4, 16: 4, 32: 8, 64: 8, 128: 3, 256: 1, 512: 2, 768: 4, 1024: 8, 1280: 8,
                  1536: 16, 1792: 16, 2048: 32, 2304: 4}


class PairRefused(ValueError):
    """A pair that cannot become a map, with a sentence naming the field and the value."""


def is_pair_member(name):
    """Whether a file name is one half of a pair (``.hdr``/``.img``, maybe gzipped)."""
    lowered = name.lower()
    return lowered.endswith((".hdr", ".img", ".hdr.gz", ".img.gz"))


def pair_stem(name):
    """The name both halves share (``con_0001`` for ``con_0001.img.gz``), folder included."""
    lowered = name.lower()
    for suffix in (".hdr.gz", ".img.gz", ".hdr", ".img"):
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return name


def half_of(name):
    """'hdr' or 'img' for a pair member's name."""
    return "hdr" if name.lower().endswith((".hdr", ".hdr.gz")) else "img"


def copy_plain(source, target, max_bytes):
    """Copy a half, gunzipping it if it is gzipped, stopping past ``max_bytes``; returns bytes written."""
    with open(source, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    written = 0
    try:
        with opener(source, "rb") as src, open(target, "wb") as dst:
            while chunk := src.read(COPY_CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise PairRefused(f"the pair holds more than {max_bytes:,} bytes once decompressed "
                                      "(the limit for one map)")
                dst.write(chunk)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise PairRefused(f"{Path(source).name}: the gzip stream is damaged or cut short ({exc})") from None
    return written


def header_facts(hdr_path):
    """(byte order, is NIfTI-1, dims, datatype, bitpix) read from the 348-byte header; refused when not one."""
    raw = Path(hdr_path).read_bytes()[:HEADER_BYTES]
    if len(raw) < HEADER_BYTES:
        raise PairRefused(f"the .hdr holds {len(raw)} bytes: an Analyze or NIfTI header has {HEADER_BYTES}")
    for order in "<>":
        if struct.unpack(order + "i", raw[:4])[0] == HEADER_BYTES:
            break
    else:
        raise PairRefused(f"sizeof_hdr={struct.unpack('<i', raw[:4])[0]}: expected 348 in either byte order "
                          "(the .hdr is not an Analyze or NIfTI-1 header)")
    dims = list(struct.unpack(order + "8h", raw[40:56]))
    datatype, bitpix = struct.unpack(order + "hh", raw[70:74])
    return order, raw[344:348] == NIFTI1_PAIR_MAGIC, dims, datatype, bitpix


def expected_data_bytes(dims, datatype):
    """The bytes the header says the data hold; refused for dims or datatypes no map has."""
    if not 1 <= dims[0] <= 7:
        raise PairRefused(f"dim[0]={dims[0]}: expected 1 to 7 (the number of dimensions)")
    used = dims[1: dims[0] + 1]
    if any(size < 1 for size in used):
        raise PairRefused(f"dim={used}: every used dimension must be at least 1")
    if datatype not in DATATYPE_BYTES:
        raise PairRefused(f"datatype={datatype}: not a datatype neurodrop reads")
    return int(np.prod(used, dtype=np.int64)) * DATATYPE_BYTES[datatype]


def check_sizes(hdr_path, img_path, max_array_bytes):
    """Refuse before reading: data larger than a worker may hold, or an .img shorter than the header says."""
    order, is_nifti, dims, datatype, _bitpix = header_facts(hdr_path)
    wanted = expected_data_bytes(dims, datatype)
    if wanted * 3 > max_array_bytes:
        raise PairRefused(f"dim={dims[1:dims[0] + 1]}: {wanted:,} bytes of data, more than a worker may hold "
                          f"({max_array_bytes // 3:,})")
    held = Path(img_path).stat().st_size
    if held < wanted:
        raise PairRefused(f"the .img holds {held:,} bytes but the header (dim={dims[1:dims[0] + 1]}, "
                          f"datatype={datatype}) says {wanted:,}: the .img is truncated or belongs to another .hdr")
    return order, is_nifti


def convert_pair(hdr_path, img_path, out_path, *, max_decompressed_bytes, max_array_bytes, workdir):
    """Write the pair as one ``.nii.gz`` at ``out_path``; returns notes for the validation report.

    The halves are first copied (gunzipped) side by side under ``workdir`` with the names nibabel expects.
    """
    workdir = Path(workdir)
    plain_hdr, plain_img = workdir / "pair.hdr", workdir / "pair.img"
    copy_plain(hdr_path, plain_hdr, HEADER_BYTES * 64)
    copy_plain(img_path, plain_img, max_decompressed_bytes)
    order, is_nifti = check_sizes(plain_hdr, plain_img, max_array_bytes)
    try:
        image = nib.load(plain_hdr)
        single = nib.Nifti1Image.from_image(image)
        if not is_nifti:
            single.header.set_sform(image.affine, code=2)
            single.header.set_qform(image.affine, code=2)
        nib.save(single, out_path)
    except (nib.filebasedimages.ImageFileError, ValueError, OSError, EOFError) as exc:
        raise PairRefused(f"nibabel could not read the pair: {exc}") from None
    finally:
        for path in (plain_hdr, plain_img):
            path.unlink(missing_ok=True)
    return pair_notes(is_nifti, order)


def pair_notes(is_nifti, order):
    """What the report says about a converted pair: its format, byte order and, for Analyze, the orientation."""
    fmt = "a NIfTI-1 pair (.hdr + .img)" if is_nifti else "an Analyze 7.5 pair (.hdr + .img)"
    endian = "little-endian" if order == "<" else "big-endian"
    notes = [f"Converted from {fmt}, {endian}, to one .nii.gz; the original pair stays downloadable."]
    if not is_nifti:
        notes.append(ANALYZE_ORIENTATION)
    return {"format": "nifti1-pair" if is_nifti else "analyze-7.5", "byte_order": endian, "notes": notes}

