"""workers.nifti: every refusal names its field and value; every valid variant reads as nibabel reads it."""

import gzip
import os
import time

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import niftigen as gen
from workers.nifti import CHECKS, Finding, InvalidNifti, Report, inspect, inspect_and_load, load_data

SHAPE = (20, 24, 20)


def refusal(path, **limits) -> InvalidNifti:
    """The InvalidNifti both entry points raise for ``path`` (they must agree)."""
    with pytest.raises(InvalidNifti) as by_inspect:
        inspect(path, **{k: v for k, v in limits.items() if k != "max_array_bytes"})
    with pytest.raises(InvalidNifti) as by_load:
        inspect_and_load(path, **limits)
    assert str(by_inspect.value) == str(by_load.value) or "memory" in str(by_load.value)
    assert not by_inspect.value.internal
    return by_inspect.value


def assert_names(exc: InvalidNifti, field: str, value) -> None:
    assert exc.field == field
    assert f"{field}={value}" in str(exc), str(exc)


@pytest.fixture
def good(tmp_path):
    return gen.small_map(tmp_path / "good.nii")


@pytest.fixture
def good_gz(tmp_path):
    return gen.small_map(tmp_path / "good.nii.gz")


# --------------------------------------------------------------------------
# valid variants

@pytest.mark.parametrize("name, options, fmt, endianness", [
    ("plain.nii", {}, "NIfTI-1", "little"),
    ("packed.nii.gz", {}, "NIfTI-1", "little"),
    ("two.nii", {"nifti2": True}, "NIfTI-2", "little"),
    ("two.nii.gz", {"nifti2": True, "big_endian": True}, "NIfTI-2", "big"),
    ("big.nii", {"big_endian": True}, "NIfTI-1", "big"),
    ("double.nii.gz", {"dtype": np.float64}, "NIfTI-1", "little"),
])
def test_valid_variants_read_as_nibabel_reads_them(tmp_path, name, options, fmt, endianness):
    path = gen.small_map(tmp_path / name, **options)
    report, data = inspect_and_load(path)
    assert (report.format, report.endianness, report.compressed) == (fmt, endianness, name.endswith(".gz"))
    assert report.shape == list(SHAPE) and data.shape == SHAPE
    np.testing.assert_allclose(data, nib.load(path).get_fdata(), rtol=1e-6)
    assert report.findings == []
    assert inspect(path).to_dict() == report.to_dict()


@pytest.mark.parametrize("options", [{}, {"nifti2": True, "big_endian": True}])
def test_the_sform_is_nibabels(tmp_path, options):
    """Issue 15: the affine comes from nibabel's header object where it is computed the same way."""
    affine = np.array([[-2.0, 0.1, 0, 90], [0, 2, 0.2, -126], [0.05, 0, 2, -72], [0, 0, 0, 1]])
    path = gen.make_nifti(tmp_path / "oblique.nii", np.ones(SHAPE, np.float32), affine, **options)
    report = inspect(path)
    assert report.affine_source == "sform"
    np.testing.assert_array_equal(report.affine, nib.load(path).header.get_sform())


def test_gzip_is_detected_by_its_bytes_not_its_name(tmp_path):
    disguised = gen.small_map(tmp_path / "upload.bin", gz=True)
    honest_name = gen.small_map(tmp_path / "not-really.nii.gz", gz=False)
    assert inspect(disguised).compressed is True
    assert inspect(honest_name).compressed is False


def test_int16_with_scaling_is_scaled(tmp_path):
    raw = (np.arange(np.prod(SHAPE)).reshape(SHAPE) % 1000 - 500).astype(np.int16)
    path = gen.make_nifti(tmp_path / "scaled.nii.gz", raw, np.eye(4), scl_slope=0.25, scl_inter=10)
    report, data = inspect_and_load(path)
    assert report.datatype == "int16" and report.scaling == {"slope": 0.25, "inter": 10.0}
    assert data.dtype == np.float32
    np.testing.assert_allclose(data, raw * 0.25 + 10)


def test_uint8_mask(tmp_path):
    mask = np.zeros(SHAPE, np.uint8)
    mask[5:10, 5:10, 5:10] = 1
    report, data = inspect_and_load(gen.make_nifti(tmp_path / "mask.nii", mask, np.eye(4)))
    assert report.datatype == "uint8" and report.bitpix == 8
    assert data.sum() == 125


def test_4d_series(tmp_path):
    report, data = inspect_and_load(gen.mni_like_4d(tmp_path / "series.nii.gz", volumes=3, voxel_mm=8))
    assert data.shape == gen.mni_shape(8) + (3,) and report.shape == list(data.shape)
    np.testing.assert_allclose(data[..., 2], 3 * data[..., 0], rtol=1e-6)


def test_nan_outside_the_brain_is_kept(tmp_path):
    report, data = inspect_and_load(gen.mni_like_map(tmp_path / "nan.nii.gz", voxel_mm=8, outside=np.nan))
    assert np.isnan(data).any() and np.isfinite(data).any()
    assert [f.field for f in report.findings] == []


@pytest.mark.parametrize("shape, expected", [
    ((7,), (7, 1, 1)),
    ((6, 5), (6, 5, 1)),
    ((1, 1, 1), (1, 1, 1)),
    ((4, 5, 6, 1), (4, 5, 6)),
    ((4, 5, 6, 1, 3), (4, 5, 6, 3)),
])
def test_odd_shapes_are_read_as_volumes(tmp_path, shape, expected):
    path = gen.make_nifti(tmp_path / "odd.nii", np.ones(shape, np.float32), np.eye(4))
    report, data = inspect_and_load(path)
    assert data.shape == expected and report.shape == list(expected)


@pytest.mark.parametrize("shape", [(4, 5, 6, 1), (4, 5, 6, 1, 1)])
def test_singleton_volumes_are_read_as_3d_and_the_report_says_so(tmp_path, shape):
    report, data = inspect_and_load(gen.make_nifti(tmp_path / "one.nii", np.ones(shape, np.float32), np.eye(4)))
    assert data.shape == (4, 5, 6)
    assert any("(a 3D map)" in f.message and f.field == "dim[0]" for f in report.findings)


def test_5d_with_two_long_axes_is_refused_naming_dim0(tmp_path):
    path = gen.make_nifti(tmp_path / "5d.nii", np.ones((4, 4, 4, 2, 3), np.float32), np.eye(4))
    assert_names(refusal(path), "dim[0]", 5)


@pytest.mark.parametrize("values, finding", [
    (np.zeros(SHAPE, np.float32), "all zero"),
    (np.full(SHAPE, np.nan, np.float32), "all NaN"),
])
def test_empty_maps_pass_with_a_warning(tmp_path, values, finding):
    report, _data = inspect_and_load(gen.make_nifti(tmp_path / "empty.nii", values, np.eye(4)))
    assert [f.value for f in report.findings] == [finding]
    assert report.findings[0].level == "warning"


def test_infinities_pass_with_a_warning(tmp_path):
    values = np.ones(SHAPE, np.float32)
    values[0, 0, :3] = np.inf
    report, _data = inspect_and_load(gen.make_nifti(tmp_path / "inf.nii", values, np.eye(4)))
    assert report.findings[0].value == "3 infinite"


def test_no_orientation_passes_with_a_warning(tmp_path):
    path = gen.small_map(tmp_path / "bare.nii", sform_code=0, qform_code=0)
    report = inspect(path)
    assert report.affine_source == "pixdim"
    assert any(f.field == "sform_code" and f.level == "warning" for f in report.findings)
    assert report.to_dict()["findings"][0]["message"].startswith("sform_code=0")


def test_broken_sform_falls_back_to_a_good_qform(tmp_path):
    path = gen.set_header_fields(gen.small_map(tmp_path / "s.nii"), srow_x=[0, 0, 0, 0])
    report = inspect(path)
    assert report.affine_source == "qform"
    assert report.findings[0].field == "sform_code"


@pytest.mark.parametrize("dtype, name", [(np.complex64, "complex64"), (np.complex128, "complex128")])
def test_complex_data_is_refused(tmp_path, dtype, name):
    path = gen.make_nifti(tmp_path / "c.nii", np.ones(SHAPE, dtype), np.eye(4))
    exc = refusal(path)
    assert exc.field == "datatype" and name in str(exc) and "complex" in str(exc)


def test_rgb_data_is_refused(tmp_path):
    rgb = np.zeros(SHAPE, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    path = gen.make_nifti(tmp_path / "rgb.nii", rgb, np.eye(4))
    exc = refusal(path)
    assert_names(exc, "datatype", 128)
    assert "RGB" in str(exc)


def test_report_is_plain_json(good_gz):
    import json

    report = inspect(good_gz)
    assert isinstance(report, Report)
    encoded = json.loads(json.dumps(report.to_dict()))
    assert encoded["affine"][3] == [0, 0, 0, 1]
    assert encoded["decompressed_bytes"] == 352 + encoded["data_bytes"]


def test_load_data_after_inspect(good_gz):
    report = inspect(good_gz)
    np.testing.assert_array_equal(load_data(good_gz, report), inspect_and_load(good_gz)[1])


def test_arrays_over_the_memory_limit_are_refused_before_allocation(good):
    with pytest.raises(InvalidNifti) as caught:
        load_data(good, max_array_bytes=1000)
    assert caught.value.field == "dim" and "memory" in str(caught.value)


def test_checks_are_an_ordered_tuple_of_small_functions():
    assert isinstance(CHECKS, tuple) and all(c.__name__.startswith("_chk_") for c in CHECKS)
    assert Finding("dim[0]", 9, "error", "dim[0]=9: x").to_dict()["level"] == "error"


# --------------------------------------------------------------------------
# refusals of damaged headers

@pytest.mark.parametrize("fields, field, value", [
    ({"magic": b"xyz\0"}, "magic", "'xyz'"),
    ({"dim": [0, 20, 24, 20, 1, 1, 1, 1]}, "dim[0]", 0),
    ({"dim": [8, 20, 24, 20, 1, 1, 1, 1]}, "dim[0]", 8),
    ({"dim": [3, 20, -24, 20, 1, 1, 1, 1]}, "dim[2]", -24),
    ({"datatype": 17}, "datatype", 17),
    ({"bitpix": 16}, "bitpix", 16),
    ({"vox_offset": 100}, "vox_offset", 100),
    ({"vox_offset": 10**9}, "vox_offset", "1,000,000,000"),
    ({"scl_inter": np.inf}, "scl_inter", "inf"),
    ({"srow_x": [0, 0, 0, 0], "qform_code": 0}, "sform_code", 4),
    ({"srow_x": [np.nan, 0, 0, 0], "qform_code": 0}, "sform_code", 4),
    ({"sform_code": 0, "quatern_b": 3.0}, "qform_code", 4),
])
@pytest.mark.parametrize("gz", [False, True])
def test_damaged_headers_are_refused_naming_field_and_value(tmp_path, fields, field, value, gz):
    source = gen.small_map(tmp_path / ("good.nii.gz" if gz else "good.nii"))
    exc = refusal(gen.set_header_fields(source, tmp_path / "bad", **fields))
    assert_names(exc, field, value)


def test_bad_sizeof_hdr_is_refused(tmp_path, good):
    exc = refusal(gen.set_header_fields(good, tmp_path / "bad.nii", sizeof_hdr=349))
    assert exc.field == "sizeof_hdr" and "sizeof_hdr=349" in str(exc)


def test_singular_affine_message(tmp_path, good):
    exc = refusal(gen.set_header_fields(good, tmp_path / "flat.nii", srow_z=[0, 0, 0, 5], qform_code=0))
    assert "singular" in str(exc)


def test_truncated_data_names_the_byte_counts(tmp_path, good):
    exc = refusal(gen.truncate(good, tmp_path / "cut.nii", 1000))
    assert exc.field == "dim"
    assert "9,600 voxels of float32 (37.5 KiB)" in str(exc) and "holds 1000 bytes" in str(exc)
    assert "truncated or not NIfTI" in str(exc)


def test_huge_claim_in_a_tiny_file(tmp_path, good):
    exc = refusal(gen.set_header_fields(good, tmp_path / "claim.nii", dim=[3, 3000, 3000, 3000, 1, 1, 1, 1]))
    assert "27,000,000,000 voxels of float32 (100.6 GiB)" in str(exc)


def test_truncated_gzip_names_the_byte_counts(tmp_path, good_gz):
    size = gen.file_size(good_gz)
    exc = refusal(gen.truncate(good_gz, tmp_path / "cut.nii.gz", size // 2))
    assert exc.field in ("gzip stream", "dim")
    assert "bytes" in str(exc) and "truncated" in str(exc)


def test_gzip_missing_only_its_end_marker(tmp_path, good_gz):
    size = gen.file_size(good_gz)
    exc = refusal(gen.truncate(good_gz, tmp_path / "cut.nii.gz", size - 4))
    assert exc.field == "gzip stream" and "end marker" in str(exc)


def test_corrupt_gzip_stream(tmp_path, good_gz):
    payload = bytearray(good_gz.read_bytes())
    payload[-8] ^= 0xFF
    bad = tmp_path / "crc.nii.gz"
    bad.write_bytes(bytes(payload))
    exc = refusal(bad)
    assert exc.field == "gzip stream" and "corrupt" in str(exc)


def test_gzip_bomb_claiming_billions_stops_at_the_cap(tmp_path):
    bomb = gen.gzip_bomb(tmp_path / "bomb.nii.gz", claimed_shape=(2000, 1000, 1000), zero_bytes=16 * 2**20)
    assert gen.file_size(bomb) < 100_000
    started = time.perf_counter()
    exc = refusal(bomb, max_decompressed_bytes=2**20)
    assert time.perf_counter() - started < 2
    assert exc.field == "decompressed size" and "bomb" in str(exc)


def test_gzip_bomb_behind_a_small_header(tmp_path):
    bomb = gen.gzip_bomb(tmp_path / "bomb.nii.gz", claimed_shape=(4, 4, 4), zero_bytes=8 * 2**20)
    exc = refusal(bomb, max_decompressed_bytes=2**20)
    assert exc.field == "decompressed size" and "decompressed size > 1,048,576 bytes" in str(exc)


def test_trailing_garbage_after_gzip_is_a_warning(tmp_path, good_gz):
    padded = tmp_path / "padded.nii.gz"
    padded.write_bytes(good_gz.read_bytes() + b"garbage!")
    assert [f.level for f in inspect(padded).findings] == ["warning"]


def test_concatenated_gzip_members_are_one_stream(tmp_path, good):
    payload = good.read_bytes()
    joined = tmp_path / "joined.nii.gz"
    joined.write_bytes(gzip.compress(payload[:1000]) + gzip.compress(payload[1000:]))
    np.testing.assert_array_equal(inspect_and_load(joined)[1], inspect_and_load(good)[1])


# --------------------------------------------------------------------------
# refusals of things that are not NIfTI

@pytest.mark.parametrize("make, words", [
    (gen.empty_file, "file=0 bytes"),
    (gen.html_page, "looks like an HTML page, not a NIfTI file"),
    (gen.dicom_like, "looks like a DICOM file"),
    (gen.random_bytes, "sizeof_hdr=123456"),
    (gen.analyze_hdr, "Analyze 7.5 header"),
    (gen.nifti_pair_hdr, "magic='ni1'"),
])
def test_not_nifti_is_refused_saying_what_it_looks_like(tmp_path, make, words):
    exc = refusal(make(tmp_path / "upload"))
    assert words in str(exc), str(exc)


def test_gzip_of_html_says_so(tmp_path):
    path = gen.write_raw(tmp_path / "page.gz", gen.read_raw(gen.html_page(tmp_path / "p")), gz=True)
    assert "a gzip file holding an HTML page" in str(refusal(path))


def test_header_shorter_than_348_bytes(tmp_path, good):
    exc = refusal(gen.truncate(good, tmp_path / "short.nii", 200))
    assert_names(exc, "file", 200)


def test_missing_file_is_an_invalid_nifti(tmp_path):
    with pytest.raises(InvalidNifti):
        inspect(tmp_path / "nope.nii")


# --------------------------------------------------------------------------
# fuzzing: mutated or cut files only ever read or raise InvalidNifti

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))


@pytest.fixture(scope="module")
def fuzz_sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    return [gen.small_map(folder / "a.nii", shape=(6, 5, 4)),
            gen.small_map(folder / "b.nii.gz", shape=(6, 5, 4), nifti2=True),
            gen.small_map(folder / "c.nii", shape=(6, 5, 4), big_endian=True, dtype=np.int16)]


@settings(max_examples=FUZZ_EXAMPLES, deadline=2000,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(source=st.integers(0, 2),
       changes=st.dictionaries(st.integers(0, 551), st.integers(0, 255), max_size=6),
       cut=st.one_of(st.none(), st.integers(0, 1500)))
def test_fuzzed_headers_read_or_raise_invalid_nifti(fuzz_sources, source, changes, cut):
    original = fuzz_sources[source]
    folder = original.parent
    payload = bytearray(gen.read_raw(original))
    for offset, value in changes.items():
        if offset < len(payload):
            payload[offset] = value
    if cut is not None:
        payload = payload[:cut]
    target = gen.write_raw(folder / f"mutant{source}", bytes(payload), gz=original.name.endswith(".gz"))
    for read in (lambda p: inspect(p, max_decompressed_bytes=2**20),
                 lambda p: inspect_and_load(p, max_decompressed_bytes=2**20, max_array_bytes=2**22)):
        try:
            read(target)
        except InvalidNifti as exc:
            assert not exc.internal, str(exc)
            assert exc.field and str(exc)
