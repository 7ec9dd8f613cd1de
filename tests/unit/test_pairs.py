"""workers.pairs: Analyze 7.5 and NIfTI-1 pairs (either byte order, gzipped halves) become one .nii.gz."""

import gzip

import nibabel as nib
import numpy as np
import pytest

from tests import archives as build
from workers.pairs import PairRefused, convert_pair, half_of, pair_stem

LIMITS = {"max_decompressed_bytes": 64 * 1024 * 1024, "max_array_bytes": 256 * 1024 * 1024}


def write_pair(folder, analyze=True, big_endian=False, gz=False):
    hdr, img = build.pair_bytes(build.small_map(7), analyze=analyze, big_endian=big_endian)
    suffix = ".gz" if gz else ""
    hdr_path, img_path = folder / f"con_0001.hdr{suffix}", folder / f"con_0001.img{suffix}"
    hdr_path.write_bytes(gzip.compress(hdr) if gz else hdr)
    img_path.write_bytes(gzip.compress(img) if gz else img)
    return hdr_path, img_path


@pytest.mark.parametrize("analyze", [True, False])
@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("gz", [False, True])
def test_a_pair_becomes_one_nifti_with_the_same_voxels_and_affine(tmp_path, analyze, big_endian, gz):
    hdr, img = write_pair(tmp_path, analyze, big_endian, gz)
    out = tmp_path / "out.nii.gz"
    notes = convert_pair(hdr, img, out, workdir=tmp_path, **LIMITS)
    converted = nib.load(out)
    assert np.allclose(converted.get_fdata(), build.small_map(7), atol=1e-5)
    assert np.allclose(converted.affine, build.PAIR_AFFINE)
    assert notes["format"] == ("analyze-7.5" if analyze else "nifti1-pair")
    assert notes["byte_order"] == ("big-endian" if big_endian else "little-endian")
    assert any("radiological" in note for note in notes["notes"]) == analyze


def test_an_img_shorter_than_its_header_says_is_refused(tmp_path):
    hdr, img = write_pair(tmp_path)
    img.write_bytes(img.read_bytes()[:100])
    with pytest.raises(PairRefused, match="truncated"):
        convert_pair(hdr, img, tmp_path / "o.nii.gz", workdir=tmp_path, **LIMITS)


def test_a_header_describing_a_huge_array_is_refused_before_reading(tmp_path):
    hdr, img = write_pair(tmp_path)
    with pytest.raises(PairRefused, match="more than a worker may hold"):
        convert_pair(hdr, img, tmp_path / "o.nii.gz", workdir=tmp_path, max_decompressed_bytes=10**8,
                     max_array_bytes=1000)


def test_a_header_that_is_not_one_is_refused(tmp_path):
    hdr, img = write_pair(tmp_path)
    hdr.write_bytes(b"x" * 348)
    with pytest.raises(PairRefused, match="sizeof_hdr="):
        convert_pair(hdr, img, tmp_path / "o.nii.gz", workdir=tmp_path, **LIMITS)


def test_an_img_inflating_past_the_limit_is_refused(tmp_path):
    hdr, img = write_pair(tmp_path, gz=True)
    with pytest.raises(PairRefused, match="decompressed"):
        convert_pair(hdr, img, tmp_path / "o.nii.gz", workdir=tmp_path, max_decompressed_bytes=1000,
                     max_array_bytes=10**8)


def test_names_of_halves():
    assert pair_stem("spm/con_0001.img.gz") == "spm/con_0001"
    assert half_of("a.HDR") == "hdr" and half_of("a.img.gz") == "img"
