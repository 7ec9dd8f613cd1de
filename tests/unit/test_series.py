"""The streaming pass: the same numbers and pictures as the in-memory path, memory flat in the number of volumes."""

import gzip
import tracemalloc

import numpy as np
import pytest

from tests import niftigen as gen
from workers import nifti, render, series, slices, stats, temporal, zinflate


def series_data(volumes, voxel_mm=8.0, seed=1):
    data, affine = gen.mni_like_data(voxel_mm)
    rng = np.random.default_rng(seed)
    drift = 100 + rng.standard_normal((1, 1, 1, volumes)).astype(np.float32)
    noise = rng.standard_normal(data.shape + (volumes,)).astype(np.float32)
    return np.where(data[..., None] != 0, data[..., None] * 10 + drift + noise, 0).astype(np.float32), affine


@pytest.mark.parametrize(("name", "stored", "big_endian"), [
    ("series.nii.gz", "float32", False), ("series.nii", "float32", False),
    ("series.nii.gz", "int16", False), ("series.nii", "int16", True),  # measured as the integers they are
])
def test_a_series_gives_the_in_memory_numbers_and_temporal_maps(tmp_path, name, stored, big_endian):
    data, affine = series_data(12)
    if stored == "int16":
        data = np.round(data * 20).astype(np.int16).astype(np.float32)
    path = gen.make_nifti(tmp_path / name, data, affine, dtype=stored, big_endian=big_endian)
    result = series.analyse(path)

    expected = stats.compute(nifti.inspect_and_load(path)[1], affine)
    numbers = dict(result.numbers)
    facts = numbers.pop("series")
    assert numbers.pop("viewer")["mode"] == "as_is"
    assert {"threshold", "clusters", "similarity"} <= set(numbers)
    assert {k: v for k, v in numbers.items() if k not in ("threshold", "clusters", "similarity", "volumes")} == {
        k: v for k, v in expected.items() if k != "volumes"}
    assert_same_summaries(numbers["volumes"], expected["volumes"], exact=stored == "float32")
    for got, volume in zip(result.numbers["volumes"], np.moveaxis(data, -1, 0), strict=True):
        values = volume[volume != 0].astype(np.float64)
        assert got["mean"] == pytest.approx(values.mean(), rel=1e-9)
        assert got["std"] == pytest.approx(values.std(), rel=1e-9)
    np.testing.assert_allclose(result.maps["tmean"], data.mean(axis=-1), rtol=1e-5)
    sd = data.astype(np.float64).std(axis=-1)
    inside = sd > 0
    np.testing.assert_allclose(result.maps["tsnr"][inside], data.mean(axis=-1)[inside] / sd[inside], rtol=1e-4)
    assert facts["n_volumes"] == 12 and facts["tsnr_median"] > 1
    assert result.pictures["mosaic"] == render.mosaic_4d(data, affine)
    assert {"glass_brain", "ortho", "mosaic", "tmean", "tsnr"} <= set(result.pictures)


def assert_same_summaries(got: list[dict], expected: list[dict], *, exact: bool) -> None:
    """The per-volume summaries of the in-memory path; integers' SD is the exact one (``stats.exact_mean_std``),
    where the in-memory path's two passes over floats may differ in the last bit."""
    if exact:
        assert got == expected
        return
    assert [{k: v for k, v in g.items() if k != "std"} for g in got] == [
        {k: v for k, v in e.items() if k != "std"} for e in expected]
    assert [g["std"] for g in got] == pytest.approx([e["std"] for e in expected], rel=1e-14)


def test_integer_volumes_far_apart_keep_their_temporal_mean_and_sd(tmp_path):
    """Deviations from the first volume past the int16 range (-30000 to 30000) are taken in float32."""
    data, affine = series_data(6)
    data = np.where(data != 0, np.where(np.arange(6) % 2, 30000, -30000), 0).astype(np.int16)
    result = series.analyse(gen.make_nifti(tmp_path / "wide.nii.gz", data, affine))
    np.testing.assert_allclose(result.maps["tmean"], data.mean(axis=-1), atol=1e-3)
    assert result.numbers["volumes"][1] == {"min": 30000.0, "max": 30000.0, "mean": 30000.0, "std": 0.0}
    assert result.numbers["series"]["tsnr_median"] is None  # mean 0 wherever the signal swings


@pytest.mark.parametrize("stored", ["float32", "int16"])
def test_temporal_sums_taken_block_by_block_match_numpy(tmp_path, monkeypatch, stored):
    """Blocks that do not divide the volume (the last one short) give the same temporal mean and SD."""
    monkeypatch.setattr(temporal, "BLOCK", 1000)
    data, affine = series_data(20)
    data = np.round(data * 20).astype(stored).astype(np.float32)
    assert data[..., 0].size % 1000
    result = series.analyse(gen.make_nifti(tmp_path / "bold.nii", data, affine, dtype=stored))
    np.testing.assert_allclose(result.maps["tmean"], data.mean(axis=-1), rtol=1e-5)
    sd = data.astype(np.float64).std(axis=-1)
    inside = sd > 0
    np.testing.assert_allclose(result.maps["tsnr"][inside], data.mean(axis=-1)[inside] / sd[inside], rtol=1e-4)


def test_a_3d_map_gives_what_it_gave_before(tmp_path):
    path = gen.mni_like_map(tmp_path / "map.nii.gz", voxel_mm=4)
    report, data = nifti.inspect_and_load(path)
    result = series.analyse(path)
    affine = np.asarray(report.affine)
    assert result.numbers.pop("viewer") == {"mode": "as_is", "frames": 1, "step": 1, "on_demand": False,
                                            "by_offset": False, "by_points": False, "n_volumes": 1}
    added = {k: result.numbers.pop(k) for k in ("threshold", "clusters", "similarity")}
    assert result.numbers == stats.compute(data, affine)
    result.numbers.update(added)
    shown = slices.shown_type(None, result.numbers)
    threshold = slices.threshold_for(shown, data, result.numbers, result.report)
    assert result.pictures == render.render_all(data, affine, threshold=threshold, map_type=shown,
                                                mni=not result.numbers["not_mni"])
    assert result.report == report.to_dict() and result.maps == {}


@pytest.mark.parametrize(("volumes", "stored", "expected"), [(1, "float32", 1), (3, "float32", 3), (1, "int16", 2)])
def test_a_first_volume_of_floats_is_classified_once(tmp_path, monkeypatch, volumes, stored, expected):
    """The summaries and the statistics share the first volume's classes (integers are classified as stored,
    then as floats); a 3D map keeps no per-volume summary of its own."""
    data, affine = series_data(volumes) if volumes > 1 else gen.mni_like_data(8.0)
    data = np.round(data)
    path = gen.make_nifti(tmp_path / "map.nii.gz", data, affine, dtype=stored)
    calls = []
    classify = stats.classify
    monkeypatch.setattr(stats, "classify",
                        lambda volume, *args, **kwargs: calls.append(volume.dtype) or classify(volume, *args, **kwargs))
    monkeypatch.setattr(temporal, "classify", stats.classify)
    with nifti.open_series(path) as opened:
        gathered = series.gather(opened.volumes_ahead(stored=True), volumes, affine)
    numbers = stats.first_volume_statistics(gathered.first, affine, shape=data.shape,
                                            classes=gathered.first_classes)
    assert len(calls) == expected
    assert len(gathered.summary.volumes) == (volumes if volumes > 1 else 0)
    monkeypatch.undo()
    assert numbers == stats.first_volume_statistics(data[..., 0] if volumes > 1 else data, affine, shape=data.shape)


def test_a_t_map_by_its_header_is_drawn_and_thresholded_as_a_t_map(tmp_path):
    path = gen.set_header_fields(gen.mni_like_map(tmp_path / "plain.nii"), tmp_path / "t.nii",
                                 intent_code=3, intent_p1=20.0)
    numbers = series.analyse(path).numbers
    assert (numbers["inferred_map_type"], numbers["inferred_map_type_why"]) == ("T", "the file's NIfTI intent (t-test)")
    assert numbers["threshold"]["rule"] == "|t| ≥ 3.57 (z 3.1 with 20 degrees of freedom)"
    plain = series.analyse(tmp_path / "plain.nii").numbers
    assert "inferred_map_type_why" not in plain and plain["threshold"] != numbers["threshold"]


def test_tr_and_units_come_from_the_header(tmp_path):
    data, affine = series_data(3)
    path = gen.make_nifti(tmp_path / "tr.nii", data, affine)
    raw = bytearray(path.read_bytes())
    pixdim = np.frombuffer(raw, dtype="<f4", count=8, offset=76).copy()
    pixdim[4] = 2.5
    raw[76:108] = pixdim.tobytes()
    path.write_bytes(bytes(raw))
    assert series.analyse(path).numbers["series"] | {"tsnr_median": 0, "tmean_median": 0} == {
        "n_volumes": 3, "tr": 2.5, "time_unit": "s", "tsnr_median": 0, "tmean_median": 0}


def test_a_series_cut_mid_stream_names_the_volume_where_data_end(tmp_path):
    data, affine = series_data(10)
    whole = gen.make_nifti(tmp_path / "whole.nii", data, affine).read_bytes()
    volume_bytes = data[..., 0].nbytes
    cut = whole[:352 + 6 * volume_bytes + 100]
    (tmp_path / "cut.nii.gz").write_bytes(gzip.compress(whole)[: len(gzip.compress(cut)) - 40])
    (tmp_path / "cut.nii").write_bytes(cut)
    for name in ("cut.nii.gz", "cut.nii"):
        with pytest.raises(nifti.InvalidNifti) as caught:
            series.analyse(tmp_path / name)
        assert "truncated" in str(caught.value) and "of 10" in str(caught.value), str(caught.value)
    assert "volume 6 (counting from 0) of 10" in str(caught.value)


def test_volumes_served_on_demand_are_members_the_index_finds(tmp_path, monkeypatch):
    """Without zlib-ng, a series larger than the viewer's budget: its first volumes in one copy, each volume as
    its own member."""
    import io

    monkeypatch.setattr(zinflate, "_lib", None)
    data, affine = series_data(10)
    budget = 352 + 3 * data[..., 0].nbytes  # a few volumes in the viewer's copy, the rest on demand
    sink = io.BytesIO()
    result = series.analyse(gen.make_nifti(tmp_path / "whole.nii.gz", data, affine), viewer_budget=budget,
                            volumes_sink=sink)
    offsets = np.frombuffer(result.files["volume_index"], "<u8")
    assert len(offsets) == 11 and offsets[-1] == len(sink.getvalue())
    last = gzip.decompress(sink.getvalue()[offsets[9]:offsets[10]])
    assert np.array_equal(np.frombuffer(last[352:], np.float32), data[..., 9].ravel(order="F"))
    frames = result.numbers["viewer"]["frames"]
    first = gzip.decompress(result.files["viewer"])
    assert frames >= 2 and np.array_equal(np.frombuffer(first[352:], np.float32), data[..., :frames].ravel(order="F"))


def test_a_header_claiming_far_more_volumes_names_where_the_data_end(tmp_path):
    """Whether the claim fits the decompression cap (streamed) or not (counted first), the reason is the same."""
    data, affine = series_data(4)
    path = gen.make_nifti(tmp_path / "claims.nii.gz", data, affine)
    gen.write_raw(path, gen._with_fields(gen.read_raw(path), dim=[4, *data.shape[:3], 30_000, 1, 1, 1]), gz=True)
    for cap in (2**30, nifti.DEFAULT_MAX_DECOMPRESSED_BYTES):
        with pytest.raises(nifti.InvalidNifti) as caught:
            series.analyse(path, max_decompressed_bytes=cap)
        assert caught.value.field == "dim" and "truncated" in str(caught.value)
        assert "the data end in volume 4 (counting from 0) of 30000" in str(caught.value)


def test_a_5d_file_is_refused_by_its_dim(tmp_path):
    path = gen.make_nifti(tmp_path / "five.nii.gz", np.ones((3, 3, 3, 2, 2), np.float32))
    with pytest.raises(nifti.InvalidNifti) as caught:
        series.analyse(path)
    assert caught.value.field == "dim[0]" and "dim[0]=5" in str(caught.value)


def test_one_volume_over_the_array_cap_is_refused(tmp_path):
    data, affine = series_data(3)
    path = gen.make_nifti(tmp_path / "big.nii", data, affine)
    with pytest.raises(nifti.InvalidNifti, match="one volume"):
        series.analyse(path, max_array_bytes=1000)
    assert series.analyse(path, max_array_bytes=2 * data[..., 0].nbytes).numbers["n_volumes"] == 3


def peak_allocation(path):
    tracemalloc.start()
    try:
        series.analyse(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_flat_in_the_number_of_volumes(tmp_path):
    """Four times the volumes, about the same peak: a few volumes, never the series."""
    short, affine = series_data(16, voxel_mm=4)
    long = np.concatenate([short] * 4, axis=-1)
    peaks = [peak_allocation(gen.make_nifti(tmp_path / f"s{n}.nii.gz", d, affine))
             for n, d in (("16", short), ("64", long))]
    volume = short[..., 0].nbytes
    assert peaks[1] < peaks[0] + 4 * volume, peaks
    assert peaks[1] < 8 * volume + 16 * 2**20 < long.nbytes, (peaks, long.nbytes)
