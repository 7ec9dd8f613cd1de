"""Build study archives for tests: SPM folders with an Analyze pair, FSL gfeat trees, BIDS derivatives, hostile ones.

No binaries are committed: each archive is written from small generated maps when a test asks for it.
"""

import io
import json
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (12, 14, 12)
MNI_2MM = np.array([[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]])
#: SPM's Analyze origin must lie within (or near) the volume, as it does for real maps: the small maps' centre.
PAIR_AFFINE = np.array([[-2.0, 0, 0, 12], [0, 2, 0, -14], [0, 0, 2, -12], [0, 0, 0, 1]])


def small_map(seed=0, shape=SHAPE):
    """A small float map with a blob of signal."""
    rng = np.random.default_rng(seed)
    data = rng.normal(0, 1, shape).astype(np.float32)
    data[4:8, 5:9, 4:8] += 4
    return data


def nifti_bytes(data, gz=True):
    """A NIfTI-1 file's bytes (gzipped when ``gz``)."""
    image = nib.Nifti1Image(data, MNI_2MM)
    image.header.set_sform(MNI_2MM, 4)
    image.header.set_qform(MNI_2MM, 4)
    file_map = image.make_file_map()
    buffer = io.BytesIO()
    file_map["image"].fileobj = buffer
    image.to_file_map(file_map)
    raw = buffer.getvalue()
    if gz:
        import gzip

        return gzip.compress(raw, compresslevel=1, mtime=0)
    return raw


def pair_bytes(data, analyze=True, big_endian=False):
    """(.hdr bytes, .img bytes) of an Analyze 7.5 (SPM2 flavour) or NIfTI-1 pair."""
    image_class = nib.Spm2AnalyzeImage if analyze else nib.Nifti1Pair
    header = image_class.header_class(endianness=">" if big_endian else "<")
    image = image_class(data, PAIR_AFFINE, header=header)
    with tempfile.TemporaryDirectory() as folder:
        nib.save(image, Path(folder) / "pair.img")
        hdr = (Path(folder) / "pair.hdr").read_bytes()
        img = (Path(folder) / "pair.img").read_bytes()
    if analyze:
        origin = np.round(np.linalg.inv(PAIR_AFFINE) @ [0, 0, 0, 1])[:3] + 1
        hdr = hdr[:253] + np.array([*origin, 0, 0], dtype=header.endianness + "i2").tobytes() + hdr[263:]
    return hdr, img


def spm_folder():
    """An SPM first-level folder: an Analyze con_0001 pair, spmT_0001.nii, a mask and SPM.mat."""
    hdr, img = pair_bytes(small_map(1))
    return {
        "spm/con_0001.hdr": hdr,
        "spm/con_0001.img": img,
        "spm/spmT_0001.nii": nifti_bytes(small_map(2), gz=False),
        "spm/SPM.mat": b"MATLAB 5.0 MAT-file",
    }


def fsl_gfeat_tree():
    """An FSL higher-level tree: zstat1 of cope1 and cope2, and a report page."""
    return {
        "group.gfeat/cope1.feat/stats/zstat1.nii.gz": nifti_bytes(small_map(3)),
        "group.gfeat/cope2.feat/stats/zstat1.nii.gz": nifti_bytes(small_map(4)),
        "group.gfeat/report.html": b"<html></html>",
    }


BIDS_NAME = "sub-01_task-faces_space-MNI152NLin2009cAsym_contrast-facesGtHouses_stat-t_statmap"


def bids_tree():
    """BIDS derivatives: a T map with a sidecar (Description, Sources, DegreesOfFreedom), and dataset_description."""
    sidecar = {"Description": "Faces greater than houses", "Sources": ["bids:raw:sub-01/func"],
               "DegreesOfFreedom": 118, "Software": "fitlins"}
    return {
        f"derivatives/sub-01/{BIDS_NAME}.nii.gz": nifti_bytes(small_map(5)),
        f"derivatives/sub-01/{BIDS_NAME}.json": json.dumps(sidecar).encode(),
        "derivatives/dataset_description.json": b'{"Name": "study"}',
    }


def write_zip(path, members, compression=zipfile.ZIP_DEFLATED):
    """A zip of {name: bytes}; names are written as given (hostile ones too)."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return Path(path)


def write_tar(path, members, mode="w:gz"):
    """A (gzipped) tar of {name: bytes}."""
    with tarfile.open(path, mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return Path(path)


def add_zip_symlink(path, name, target):
    """Append a symlink member to a zip (the mode in the external attributes, as Info-ZIP writes it)."""
    with zipfile.ZipFile(path, "a") as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, target)


def add_tar_links(path, good_members):
    """A tar with good members plus a symlink, a hard link and a character device."""
    with tarfile.open(path, "w") as archive:
        for name, data in good_members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, kind in (("link.nii", tarfile.SYMTYPE), ("hard.nii", tarfile.LNKTYPE), ("dev.nii", tarfile.CHRTYPE)):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "/etc/passwd"
            archive.addfile(info)
    return Path(path)


def write_zip_bomb(path, inflated_bytes, good_members=None):
    """A zip with one member of ``inflated_bytes`` zeros (a few kB compressed), after any good members."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (good_members or {}).items():
            archive.writestr(name, data)
        with archive.open("bomb.nii", "w", force_zip64=True) as member:
            zeros = bytes(1024 * 1024)
            for _ in range(inflated_bytes // len(zeros)):
                member.write(zeros)
    return Path(path)
