"""The awkward-files corpus (``tests/awkward.py``) through the worker's pure pass: each file made the way another
tool writes it ends ready with the values nibabel reads, or refused with a reason naming the field and value."""

import nibabel as nib
import numpy as np
import pytest

from tests.awkward import AFFINE, CORPUS, LOOKS_LIKE, Failed
from workers import nifti, series

PNG = b"\x89PNG\r\n\x1a\n"


def analysed(tmp_path, name):
    build, expected = CORPUS[name]
    path = build(tmp_path)
    return path, expected, series.analyse(path)


def first_volume_range(path, shape):
    """(min, max) of the finite non-zero voxels of the first volume as nibabel reads it (the map's statistics),
    or None when there are none."""
    data = np.asanyarray(nib.load(path).dataobj, dtype=np.float64).reshape(shape, order="F")
    first = data[..., 0] if len(shape) == 4 else data
    kept = first[np.isfinite(first) & (first != 0)]
    return (kept.min(), kept.max()) if kept.size else None


@pytest.mark.parametrize("name", [name for name, (_build, expected) in CORPUS.items()
                                  if not isinstance(expected, Failed)])
def test_an_unusual_file_ends_ready_with_the_values_nibabel_reads(tmp_path, name):
    path, expected, result = analysed(tmp_path, name)
    report = result.report
    for key, value in expected.report.items():
        assert report[key] == (pytest.approx(value) if key == "scaling" and value else value), (key, report[key])
    assert {finding["field"] for finding in report["findings"]} >= expected.findings, report["findings"]
    assert all(finding["level"] != "error" for finding in report["findings"])
    if expected.affine:
        np.testing.assert_allclose(report["affine"], AFFINE, atol=1e-5)
    expected_range = first_volume_range(path, report["shape"])
    if expected_range is None:
        assert result.numbers["max"] is None
    else:
        np.testing.assert_allclose([result.numbers["min"], result.numbers["max"]], expected_range, rtol=1e-6)
    assert result.pictures and all(picture.startswith(PNG) for picture in result.pictures.values())


@pytest.mark.parametrize("name", [name for name, (_build, expected) in CORPUS.items() if isinstance(expected, Failed)])
def test_a_broken_or_refused_file_names_the_field_and_value(tmp_path, name):
    build, expected = CORPUS[name]
    with pytest.raises(nifti.InvalidNifti) as refused:
        series.analyse(build(tmp_path))
    exc = refused.value
    assert not exc.internal and exc.field == expected.field
    assert expected.value in str(exc.value) and str(exc.value) in str(exc)


def test_the_affine_of_a_qform_with_odd_voxel_sizes_is_nibabels(tmp_path):
    """Negative sizes as their magnitude, zero as 1 (nibabel's fixes; nifti1_io agrees on zero)."""
    for name in ("pixdim negative, qform", "pixdim zero, qform"):
        path, _expected, result = analysed(tmp_path, name)
        np.testing.assert_allclose(result.report["affine"], nib.load(path).affine, atol=1e-5)
        [finding] = [f for f in result.report["findings"] if f["field"] == "pixdim"]
        assert finding["message"].startswith("pixdim[1:4]=[") and "read as" in finding["message"]


def test_the_freesurfer_surface_says_what_it_is(tmp_path):
    with pytest.raises(nifti.InvalidNifti, match="glmin=163842 this is FreeSurfer's surface data"):
        series.analyse(CORPUS["FreeSurfer surface"][0](tmp_path))


def test_a_file_gzipped_twice_is_told_once(tmp_path):
    with pytest.raises(nifti.InvalidNifti) as refused:
        series.analyse(CORPUS["gzip twice"][0](tmp_path))
    assert "a gzip file inside a gzip file (compressed twice)" in str(refused.value)
    assert "holding a gzip file" not in str(refused.value)


@pytest.mark.parametrize("name", sorted(LOOKS_LIKE))
def test_a_file_of_another_format_is_told_what_it_is(tmp_path, name):
    with pytest.raises(nifti.InvalidNifti, match=LOOKS_LIKE[name]):
        series.analyse(CORPUS[name][0](tmp_path))
