"""Awkward files, made the way other tools write them, each with the outcome neurodrop owes it.

Every entry builds a small file (a few hundred voxels) with nibabel and numpy, as FSL, SPM, AFNI, FreeSurfer,
dcm2niix, ANTs, MRtrix or a hand-rolled nibabel script would leave it, and says what must happen: ``Ready`` with
the values nibabel reads (and the header facts and findings expected), or ``Failed`` with the field and the value
the reason must name. The unit test runs each through the worker's pure pass, the app test uploads some.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from tests.niftigen import make_nifti, read_raw, set_header_fields, write_raw

SHAPE = (6, 7, 5)
AFFINE = np.array([[-2.0, 0, 0, 5], [0, 2.0, 0, -6], [0, 0, 2.0, -4], [0, 0, 0, 1]])


def values(seed=0, shape=SHAPE):
    """A signed float map with a clear maximum and minimum."""
    return (np.random.default_rng(seed).normal(size=shape) * 3).astype(np.float32)


@dataclass
class Ready:
    """The file must be read, with these header facts, findings (by field) and, unless False, ``AFFINE``."""

    report: dict = field(default_factory=dict)
    findings: set = field(default_factory=set)
    affine: bool = True


@dataclass
class Failed:
    """The file must be refused with a reason naming ``field`` and containing ``value``."""

    field: str
    value: str


def saved(path, image):
    nib.save(image, path)
    return Path(path)


def nifti2(tmp, gz):
    return saved(tmp / f"nifti2{'.nii.gz' if gz else '.nii'}", nib.Nifti2Image(values(), AFFINE))


def big_endian(tmp):
    return make_nifti(tmp / "big.nii.gz", values(), AFFINE, big_endian=True)


def big_endian_scaled_int16(tmp):
    return make_nifti(tmp / "big16.nii", (values() * 100).astype(">i2"), AFFINE, big_endian=True,
                      scl_slope=0.01, scl_inter=1.0)


def scl_slope(tmp, slope, inter=0.0, dtype=np.int16):
    return make_nifti(tmp / "scaled.nii", (values() * 10).astype(dtype), AFFINE, scl_slope=slope, scl_inter=inter)


def transforms(tmp, sform_code, qform_code):
    return make_nifti(tmp / f"xform{sform_code}{qform_code}.nii", values(), AFFINE, sform_code=sform_code,
                      qform_code=qform_code)


def afni_5d(tmp, volumes):
    """AFNI writes a bucket or a series as (x, y, z, 1, t): dim[0]=5."""
    stack = np.stack([values() * (t + 1) for t in range(volumes)], axis=-1)
    return make_nifti(tmp / f"afni{volumes}.nii", stack.reshape(SHAPE + (1, volumes)), AFFINE)


def trailing_ones(tmp):
    """dim[0]=7 with every extra axis of length 1 (MRtrix and some converters keep them)."""
    return make_nifti(tmp / "ones.nii", values().reshape(SHAPE + (1, 1, 1, 1)), AFFINE)


def unused_dims_garbage(tmp):
    """dim[0]=3, and whatever a writer left in dim[4..7] (zeros, -1): unused, so ignored."""
    path = make_nifti(tmp / "garbage.nii", values(), AFFINE)
    return set_header_fields(path, tmp / "garbage-dims.nii", dim=[3, *SHAPE, 0, -1, 0, 7])


def stored_as(tmp, dtype, scale=10.0):
    data = values() * scale
    if np.dtype(dtype).kind == "u":
        data = np.abs(data)
    return make_nifti(tmp / f"{np.dtype(dtype).name}.nii", data.astype(dtype), AFFINE)


def rgb24(tmp):
    rgb = np.zeros(SHAPE, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    return saved(tmp / "rgb.nii", nib.Nifti1Image(rgb, AFFINE))


def complex64(tmp):
    return saved(tmp / "complex.nii.gz", nib.Nifti1Image(values().astype(np.complex64), AFFINE))


def with_extensions(tmp):
    """AFNI's XML attributes and a dcm2niix-style comment: vox_offset moves past 352."""
    image = nib.Nifti1Image(values(), AFFINE)
    image.header.extensions.append(nib.nifti1.Nifti1Extension("afni", b'<?xml version="1.0"?><AFNI_attributes/>'))
    image.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"TE=30;Time=101010.000;phase=1"))
    return saved(tmp / "extensions.nii.gz", image)


def far_vox_offset(tmp, offset=1024):
    """Data far after the header, zeros between (some writers align the data to a block)."""
    raw = read_raw(make_nifti(tmp / "near.nii", values(), AFFINE))
    header = nib.Nifti1Header.from_fileobj(io.BytesIO(raw[:348]), check=False)
    header["vox_offset"] = offset
    return write_raw(tmp / "far.nii", header.binaryblock + b"\0" * (offset - 348) + raw[352:])


def multi_member_gzip(tmp):
    """pigz --independent / bgzip: many gzip members (BGZF blocks carry an extra field), then an empty one."""
    raw = read_raw(make_nifti(tmp / "plain.nii", values(), AFFINE))
    blocks = b"".join(bgzf_block(raw[start:start + 300]) for start in range(0, len(raw), 300))
    path = tmp / "bgzip.nii.gz"
    path.write_bytes(blocks + bgzf_block(b""))
    return path


def bgzf_block(data: bytes) -> bytes:
    """One BGZF block as bgzip writes it: a gzip member with the 'BC' extra field giving the block size."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = deflate.compress(data) + deflate.flush()
    extra = b"BC" + struct.pack("<HH", 2, len(body) + 25)
    header = b"\x1f\x8b\x08\x04" + b"\0" * 4 + b"\x00\xff" + struct.pack("<H", len(extra)) + extra
    return header + body + struct.pack("<II", zlib.crc32(data), len(data))


def gzip_header_fields(tmp):
    """A gzip member whose header carries an extra field, the original name and a comment (pigz, gzip -N)."""
    raw = read_raw(make_nifti(tmp / "plain.nii", values(), AFFINE))
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = deflate.compress(raw) + deflate.flush()
    extra = b"XY" + struct.pack("<H", 4) + b"\x01\x02\x03\x04"
    header = (b"\x1f\x8b\x08\x1c" + b"\0" * 4 + b"\x02\x03" + struct.pack("<H", len(extra)) + extra
              + "carte_été.nii".encode("latin-1") + b"\0" + b"made by a script\0")
    path = tmp / "named.nii.gz"
    path.write_bytes(header + body + struct.pack("<II", zlib.crc32(raw), len(raw)))
    return path


def trailing_garbage(tmp):
    path = make_nifti(tmp / "trailing.nii.gz", values(), AFFINE)
    path.write_bytes(path.read_bytes() + b"not gzip at all" * 4)
    return path


def fsl_pair_header(tmp):
    """FSL's NIFTI_PAIR output: the .hdr alone, sent as if it were the map."""
    nib.save(nib.Nifti1Pair(values(), AFFINE), tmp / "fsl.img")
    return tmp / "fsl.hdr"


def filled(tmp, value, name):
    return make_nifti(tmp / name, np.full(SHAPE, value, dtype=np.float32), AFFINE)


def with_infinities(tmp):
    data = values()
    data[0, 0, 0], data[1, 1, 1] = np.inf, -np.inf
    return make_nifti(tmp / "inf.nii", data, AFFINE)


def pixdim(tmp, sizes, sform_code=0, qform_code=1):
    """Voxel sizes edited after the fact (qfac, pixdim[0], kept)."""
    path = make_nifti(tmp / "pixdim.nii", values(), AFFINE, sform_code=sform_code, qform_code=qform_code)
    edited = nib.Nifti1Header.from_fileobj(io.BytesIO(read_raw(path)[:348]), check=False)["pixdim"].copy()
    edited[1:4] = sizes
    return set_header_fields(path, tmp / "pixdim-edited.nii", pixdim=edited)


def intent(tmp, name, params=()):
    image = nib.Nifti1Image(np.abs(values()) if name == "f test" else values(), AFFINE)
    image.header.set_intent(name, params)
    return saved(tmp / f"{name.replace(' ', '_')}.nii.gz", image)


def cal_range(tmp, low, high):
    path = make_nifti(tmp / "cal.nii", values(), AFFINE)
    return set_header_fields(path, tmp / "cal-set.nii", cal_min=low, cal_max=high)


def raw_text_field(tmp, offset, size, text: bytes):
    """descrip (offset 148) or intent_name (328) holding bytes that are not UTF-8, as old tools leave them."""
    raw = bytearray(read_raw(make_nifti(tmp / "text.nii", values(), AFFINE)))
    raw[offset:offset + size] = text[:size].ljust(size, b"\0")
    return write_raw(tmp / "text-edited.nii", bytes(raw))


def freesurfer_surface(tmp):
    """FreeSurfer's NIfTI of a surface overlay past 32,767 vertices: dim[1]=-1, the count in glmin."""
    path = make_nifti(tmp / "lh.thickness.nii", values((40, 1, 1)), np.eye(4))
    return set_header_fields(path, tmp / "lh.thickness-fs.nii", dim=[3, -1, 1, 1, 1, 1, 1, 1], glmin=163842)


def gzip_twice(tmp):
    path = make_nifti(tmp / "twice.nii.gz", values(), AFFINE)
    path.write_bytes(gzip.compress(path.read_bytes()))
    return path


def cifti_dscalar(tmp):
    """HCP's dense scalar: NIfTI-2, dim (1, 1, 1, 1, maps, grayordinates), intent 3006; named .nii like any map."""
    path = nifti2(tmp, gz=False)
    return set_header_fields(path, tmp / "thickness.dscalar.nii", dim=[6, 1, 1, 1, 1, 1, 210, 1], intent_code=3006)


def gifti(tmp):
    image = nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(values((50,)).ravel())])
    return saved(tmp / "lh.func.gii", image)


def freesurfer_mgz(tmp):
    return saved(tmp / "brain.mgz", nib.MGHImage(values(), AFFINE))


def mrtrix_mif(tmp):
    path = tmp / "fa.mif"
    path.write_bytes(b"mrtrix image\ndim: 6,7,5\nvox: 2,2,2\nlayout: +0,+1,+2\ndatatype: Float32LE\n"
                     b"file: . 128\nEND\n".ljust(128, b"\0") + values().tobytes())
    return path


def tar_gz_as_map(tmp):
    """A gzipped tar of a folder, named as if it were a map."""
    import tarfile

    path = tmp / "results.nii.gz"
    member = read_raw(make_nifti(tmp / "inside.nii", values(), AFFINE))
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("inside.nii")
        info.size = len(member)
        archive.addfile(info, io.BytesIO(member))
    return path


#: name -> (builder(tmp_path) -> path, expected outcome)
CORPUS = {
    "nifti2.nii": (lambda tmp: nifti2(tmp, gz=False), Ready({"format": "NIfTI-2"}, {"xyzt_units"})),
    "nifti2.nii.gz": (lambda tmp: nifti2(tmp, gz=True), Ready({"format": "NIfTI-2", "compressed": True})),
    "big-endian float32": (big_endian, Ready({"endianness": "big"})),
    "big-endian int16 scaled": (big_endian_scaled_int16, Ready({"endianness": "big", "datatype": "int16",
                                                                "scaling": {"slope": 0.01, "inter": 1.0}})),
    "scl_slope=0": (lambda tmp: scl_slope(tmp, 0.0, 5.0), Ready({"scaling": None}, {"scl_slope"})),
    "scl_slope=NaN, int16": (lambda tmp: scl_slope(tmp, float("nan")), Ready({"scaling": None}, {"scl_slope"})),
    "scl_slope=NaN, float32": (lambda tmp: scl_slope(tmp, float("nan"), dtype=np.float32),
                               Ready({"scaling": None, "datatype": "float32"})),
    "scl_inter=inf under a slope": (lambda tmp: scl_slope(tmp, 2.0, float("inf")), Failed("scl_inter", "inf")),
    "qform only": (lambda tmp: transforms(tmp, 0, 1), Ready({"affine_source": "qform"})),
    "sform only": (lambda tmp: transforms(tmp, 2, 0), Ready({"affine_source": "sform"})),
    "neither transform": (lambda tmp: transforms(tmp, 0, 0), Ready({"affine_source": "pixdim"}, {"sform_code"},
                                                                   affine=False)),
    "dim[0]=5, 5th dim 1": (lambda tmp: afni_5d(tmp, 1), Ready({"shape": list(SHAPE)}, {"dim[0]"})),
    "dim[0]=5, AFNI series": (lambda tmp: afni_5d(tmp, 3), Ready({"shape": [*SHAPE, 3]}, {"dim[0]"})),
    "dim[0]=7, trailing 1s": (trailing_ones, Ready({"shape": list(SHAPE)}, {"dim[0]"})),
    "garbage in unused dims": (unused_dims_garbage, Ready({"shape": list(SHAPE)})),
    "float64": (lambda tmp: stored_as(tmp, np.float64), Ready({"datatype": "float64"})),
    "uint8": (lambda tmp: stored_as(tmp, np.uint8), Ready({"datatype": "uint8"})),
    "int8": (lambda tmp: stored_as(tmp, np.int8), Ready({"datatype": "int8"})),
    "uint16": (lambda tmp: stored_as(tmp, np.uint16, 1000.0), Ready({"datatype": "uint16"})),
    "RGB24": (rgb24, Failed("datatype", "RGB24")),
    "complex64": (complex64, Failed("datatype", "complex64")),
    "AFNI and dcm2niix extensions": (with_extensions, Ready({"compressed": True})),
    "vox_offset=1024": (far_vox_offset, Ready({"vox_offset": 1024})),
    "bgzip blocks": (multi_member_gzip, Ready({"compressed": True})),
    "gzip header with name, comment, extra": (gzip_header_fields, Ready({"compressed": True})),
    "gzip + trailing garbage": (trailing_garbage, Ready({"compressed": True}, {"gzip stream"})),
    "gzip twice": (gzip_twice, Failed("file", "\\x1f\\x8b")),
    "FSL ni1 .hdr alone": (fsl_pair_header, Failed("magic", "ni1")),
    "all zero": (lambda tmp: filled(tmp, 0.0, "zero.nii"), Ready(findings={"data"})),
    "all NaN": (lambda tmp: filled(tmp, np.nan, "nan.nii"), Ready(findings={"data"})),
    "with Inf": (with_infinities, Ready(findings={"data"})),
    "pixdim negative, qform": (lambda tmp: pixdim(tmp, [-2.0, 2.0, 2.0]), Ready({"affine_source": "qform"},
                                                                              {"pixdim"})),
    "pixdim zero, qform": (lambda tmp: pixdim(tmp, [2.0, 2.0, 0.0]), Ready({"zooms": [2.0, 2.0, 1.0]}, {"pixdim"},
                                                                           affine=False)),
    "pixdim zero and negative, sform": (lambda tmp: pixdim(tmp, [0.0, -2.0, 2.0], 4, 4),
                                        Ready({"affine_source": "sform"})),
    "intent t-test, dof 20": (lambda tmp: intent(tmp, "t test", (20,)),
                              Ready({"intent_code": 3, "intent_params": [20.0, 0.0, 0.0]})),
    "intent z-score": (lambda tmp: intent(tmp, "z score"), Ready({"intent_code": 5})),
    "intent F, dof 3 and 40": (lambda tmp: intent(tmp, "f test", (3, 40)),
                               Ready({"intent_code": 4, "intent_params": [3.0, 40.0, 0.0]})),
    "cal_min/cal_max set": (lambda tmp: cal_range(tmp, -3.0, 100.0), Ready()),
    "cal_min/cal_max NaN and inf": (lambda tmp: cal_range(tmp, float("nan"), float("inf")), Ready()),
    "descrip not UTF-8": (lambda tmp: raw_text_field(tmp, 148, 80, b"SPM{T_[20.0]} - \xe9\xff\xfe\x80"),
                          Ready({"descrip": "SPM{T_[20.0]} - \xe9\xff\xfe\x80"})),
    "intent_name not UTF-8": (lambda tmp: raw_text_field(tmp, 328, 16, b"\xff\xfeZ\x80"),
                              Ready({"intent_name": "\xff\xfeZ\x80"})),
    "FreeSurfer surface": (freesurfer_surface, Failed("dim[1]", "-1")),
    "CIFTI dscalar": (cifti_dscalar, Failed("intent_code", "3006")),
    "GIFTI": (gifti, Failed("file", "<?xml")),
    "FreeSurfer .mgz": (freesurfer_mgz, Failed("file", "\\x00\\x00\\x00\\x01")),
    "MRtrix .mif": (mrtrix_mif, Failed("file", "mrtrix image")),
    "tar.gz named .nii.gz": (tar_gz_as_map, Failed("file", "inside.nii")),
}

#: what the refusal of a file that is no NIfTI must say it looks like
LOOKS_LIKE = {"GIFTI": "GIFTI surface file", "FreeSurfer .mgz": "a gzip file holding a FreeSurfer MGH/MGZ volume",
              "MRtrix .mif": "MRtrix .mif image", "tar.gz named .nii.gz": "a gzip file holding a tar archive",
              "CIFTI dscalar": "CIFTI file"}
