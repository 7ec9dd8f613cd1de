"""Access points into a gzip upload: any span read from the nearest point is the inflated stream's bytes."""

import gzip
import io

import nibabel as nib
import numpy as np
import pytest

from tests import niftigen as gen
from tests.unit.test_series import series_data
from workers import gzindex, nifti, series
from workers.nifti.sources import _GzipSource


def indexed(payload: bytes, spacing: int):
    """(table, windows) recorded by the worker's gzip source reading ``payload`` once, as a series pass does."""
    windows = io.BytesIO()
    points = gzindex.AccessPoints(windows, spacing=spacing)
    source = _GzipSource(io.BytesIO(payload))
    source.read(540)
    source.record_points(points)
    source.count_rest(2**40)
    return points.table(), windows


def test_spans_read_from_access_points_match_across_concatenated_members():
    rng = np.random.default_rng(5)
    plain = (np.cumsum(rng.integers(-3, 4, 600_000)) % 256).astype(np.uint8).tobytes()
    cuts = [0, 150_001, 420_007, len(plain)]
    payload = b"".join(gzip.compress(plain[a:b], mtime=0) for a, b in zip(cuts, cuts[1:], strict=False))
    table, windows = indexed(payload, spacing=20_000)
    points = np.frombuffer(table, gzindex.ENTRY)
    assert len(points) >= 10 and set(points["bits"]) - {0}, "points fall inside bytes as well as between them"
    assert len(windows.getvalue()) == len(points) * gzindex.WINDOW_BYTES
    starts = [0, 149_990, 150_001, 419_000, len(plain) - 700, *rng.integers(0, len(plain), 25)]
    for start in starts:
        got = gzindex.read_span(io.BytesIO(payload), table, windows, int(start), 9_000)
        assert got == plain[start:start + 9_000], start


class Trickle(io.BytesIO):
    """A stored object that answers every read with at most 1,000 bytes, as a streamed body may."""

    def read(self, n=-1):
        return super().read(1000 if n is None or n < 0 else min(n, 1000))


def test_short_reads_of_the_stored_files_give_the_same_bytes():
    plain = bytes(np.random.default_rng(2).integers(0, 16, 300_000, dtype=np.uint8))
    payload = gzip.compress(plain)
    table, windows = indexed(payload, spacing=30_000)
    assert len(table) > 0
    got = gzindex.read_span(Trickle(payload), table, Trickle(windows.getvalue()), 250_000, 20_000)
    assert got == plain[250_000:270_000]


def test_a_span_past_the_end_comes_back_short():
    payload = gzip.compress(bytes(range(256)) * 400)
    table, windows = indexed(payload, spacing=10_000)
    assert len(gzindex.read_span(io.BytesIO(payload), table, windows, 102_000, 5_000)) == 400


def test_a_series_over_the_budget_gets_access_points_and_no_members(tmp_path, monkeypatch):
    """Each volume is read back from the index: its header and bytes load as that volume."""
    monkeypatch.setattr(gzindex, "SPACING", 32 * 1024)
    data, affine = series_data(10)
    path = gen.make_nifti(tmp_path / "bold.nii.gz", data, affine)
    volume_bytes = data[..., 0].nbytes
    windows = io.BytesIO()
    result = series.analyse(path, viewer_budget=352 + 3 * volume_bytes, volumes_sink=windows)
    assert result.numbers["viewer"]["by_points"] and "volume_index" not in result.files
    table = result.files["access_points"]
    assert len(table) // gzindex.ENTRY.itemsize * gzindex.WINDOW_BYTES == len(windows.getvalue()) > 0
    with open(path, "rb") as original:
        for k in (0, 4, 9):
            body = gzindex.read_span(original, table, windows, 352 + k * volume_bytes, volume_bytes)
            volume = nib.Nifti1Image.from_stream(io.BytesIO(result.files["volume_header"] + body))
            np.testing.assert_array_equal(volume.get_fdata(dtype=np.float32), data[..., k])


@pytest.mark.parametrize("damage", ["cut", "flipped"])
def test_a_damaged_series_fails_the_same_while_points_are_recorded(tmp_path, damage):
    data, affine = series_data(10)
    whole = gzip.compress(gen.make_nifti(tmp_path / "whole.nii", data, affine).read_bytes())
    damaged = whole[: len(whole) * 2 // 3] if damage == "cut" else bytearray(whole)
    if damage == "flipped":
        damaged[len(whole) // 2: len(whole) // 2 + 64] = bytes(64)
    (tmp_path / "bad.nii.gz").write_bytes(bytes(damaged))
    with pytest.raises(nifti.InvalidNifti) as caught:
        series.analyse(tmp_path / "bad.nii.gz", viewer_budget=352 + 3 * data[..., 0].nbytes,
                       volumes_sink=io.BytesIO())
    expected = "the data end in volume" if damage == "cut" else "gzip stream=corrupt"
    assert expected in str(caught.value), str(caught.value)


def test_a_header_claiming_far_more_volumes_fails_the_same_while_points_are_recorded(tmp_path):
    """The claim is settled by reading the stream to its end; recording points reads it again, same verdict."""
    data, affine = series_data(4)
    path = gen.make_nifti(tmp_path / "claims.nii.gz", data, affine)
    gen.write_raw(path, gen._with_fields(gen.read_raw(path), dim=[4, *data.shape[:3], 30_000, 1, 1, 1]), gz=True)
    with pytest.raises(nifti.InvalidNifti) as caught:
        series.analyse(path, max_decompressed_bytes=2**30, viewer_budget=352 + 2 * data[..., 0].nbytes,
                       volumes_sink=io.BytesIO())
    assert caught.value.field == "dim" and "the data end in volume 4 (counting from 0) of 30000" in str(caught.value)
