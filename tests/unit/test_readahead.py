"""The reader thread of a series' pass: items in order, a fixed ring of buffers, errors raised in the consumer,
and no thread left running after the pass, however it ends."""

import gzip
import io
import threading
import time

import numpy as np
import pytest

from tests import niftigen as gen
from tests.unit.test_series import series_data
from workers import gzindex, nifti, readahead, series


@pytest.fixture(autouse=True)
def idle_core(monkeypatch):
    """The reader thread is started only when a core is idle: here, always (the suite may run on a busy machine)."""
    monkeypatch.setattr(readahead, "spare_core", lambda: True)


def reader_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "read-ahead"]


class Ring:
    """Buffers that remember their number, and how many the reader held at once."""

    def __init__(self):
        self.made = 0
        self.lent = self.most_lent = 0
        self.lock = threading.Lock()

    def make(self):
        self.made += 1
        return bytearray(8)

    def fill(self, buffer, index, *, fail_at=None, pause=0.0):
        with self.lock:
            self.lent += 1
            self.most_lent = max(self.most_lent, self.lent)
        time.sleep(pause * (index % 3))
        if index == fail_at:
            raise ValueError(f"bad item {index}")
        buffer[:8] = index.to_bytes(8, "little")
        return buffer

    def given_back(self):
        with self.lock:
            self.lent -= 1


def test_items_come_in_order_from_a_fixed_ring_of_buffers():
    ring = Ring()
    seen, buffers = [], set()
    with readahead.ReadAhead(lambda b, i: ring.fill(b, i, pause=0.001), 40, ring.make, depth=3) as ahead:
        for item in ahead:
            seen.append(int.from_bytes(item, "little"))
            buffers.add(id(item))
            time.sleep(0.0005 * (len(seen) % 2))
            ring.given_back()
    assert seen == list(range(40))
    assert ring.made == 3 and len(buffers) == 3
    assert ring.most_lent <= 3
    assert not reader_threads()


@pytest.mark.parametrize(("loadavg", "cores", "spare"), [("0.52 0.40 0.30 1/180 999", {0, 1}, True),
                                                          ("5.48 5.39 4.47 5/196 23731", {0, 1}, False),
                                                          ("1.10 1.00 0.90 2/180 999", {0, 1}, False),
                                                          ("1.10 1.00 0.90 2/180 999", {0, 1, 2, 3}, True)])
def test_a_core_is_spare_when_fewer_tasks_run_than_there_are_cores(monkeypatch, loadavg, cores, spare):
    monkeypatch.undo()
    monkeypatch.setattr(readahead, "open", lambda *a: io.StringIO(loadavg), raising=False)
    monkeypatch.setattr(readahead.os, "sched_getaffinity", lambda pid: cores)
    assert readahead.spare_core() is spare


def test_with_no_idle_core_the_volumes_are_read_in_the_pass(tmp_path, monkeypatch):
    monkeypatch.setattr(readahead, "spare_core", lambda: False)
    monkeypatch.setattr(readahead, "ReadAhead", None)
    data, affine = series_data(5)
    with nifti.open_series(gen.make_nifti(tmp_path / "bold.nii.gz", data, affine)) as opened:
        got = [(volume.copy(), measured) for volume, measured in opened.volumes_ahead(measure=lambda v, t: t)]
    assert [m for _, m in got] == list(range(5))
    for t, (volume, _) in enumerate(got):
        np.testing.assert_array_equal(volume, data[..., t])


def test_the_ring_holds_fewer_buffers_of_large_volumes():
    assert readahead.ring_depth(3, 2 * 2**20) == 3
    assert readahead.ring_depth(3, readahead.RING_BYTES // 2) == 2
    assert readahead.ring_depth(3, 2 * readahead.RING_BYTES) == 1


def test_a_3d_map_is_read_without_a_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(readahead, "ReadAhead", None)
    path = gen.mni_like_map(tmp_path / "map.nii.gz", voxel_mm=4)
    with nifti.open_series(path) as opened:
        [(volume, measured)] = list(opened.volumes_ahead(measure=lambda v, t: t))
    assert measured == 0 and volume.ndim == 3


def test_without_a_thread_to_be_had_the_volumes_are_read_in_the_pass(tmp_path, monkeypatch):
    """A worker whose address space is capped may not get a thread's stack: the pass reads the volumes itself."""
    def refuse(self):
        raise RuntimeError("can't start new thread")

    data, affine = series_data(5)
    path = gen.make_nifti(tmp_path / "bold.nii.gz", data, affine)
    monkeypatch.setattr(threading.Thread, "start", refuse)
    result = series.analyse(path)
    assert [v["mean"] for v in result.numbers["volumes"]] == pytest.approx(
        [float(data[..., t][data[..., t] != 0].mean(dtype=np.float64)) for t in range(5)], rel=1e-9)


def test_an_error_in_the_reader_is_raised_in_its_place_and_the_reader_is_gone():
    ring = Ring()
    seen = []
    with pytest.raises(ValueError, match="bad item 5"):
        for item in readahead.ReadAhead(lambda b, i: ring.fill(b, i, fail_at=5), 20, ring.make, depth=2):
            seen.append(int.from_bytes(item, "little"))
    assert seen == [0, 1, 2, 3, 4]
    assert not reader_threads()


def test_a_consumer_stopping_early_stops_the_reader():
    ring = Ring()
    calls = []
    ahead = readahead.ReadAhead(lambda b, i: calls.append(i) or ring.fill(b, i), 1000, ring.make, depth=4)
    with ahead:
        for n, _item in enumerate(ahead):
            if n == 2:
                break
    assert not ahead.running and not reader_threads()
    assert len(calls) <= 3 + 4  # the items taken, and at most the ring's worth ahead


def test_a_failure_in_the_consumer_stops_the_reader_when_the_series_closes(tmp_path):
    data, affine = series_data(12)
    path = gen.make_nifti(tmp_path / "bold.nii.gz", data, affine)
    with pytest.raises(RuntimeError, match="consumer failed") as caught, nifti.open_series(path) as opened:
        volumes = opened.volumes_ahead(depth=2)  # held, as the failed consumer's frame in a traceback holds it
        for t, _pair in enumerate(volumes):
            if t == 3:
                raise RuntimeError("consumer failed")
    assert not reader_threads()
    assert caught.value.__traceback__ is not None and volumes is not None


@pytest.mark.parametrize(("name", "stored", "slope"), [("bold.nii.gz", "float32", None), ("bold.nii", "int16", None),
                                                       ("scaled.nii.gz", "float32", 0.5)])
def test_volumes_read_ahead_are_the_volumes_and_their_stored_bytes(tmp_path, name, stored, slope):
    """The same arrays as ``volumes`` (floats, integers as stored, and scaled integers whose buffer is scaled in
    place after its stored bytes were handed on)."""
    data, affine = series_data(9)
    if stored == "int16":
        data = np.round(data * 20).astype(np.int16).astype(np.float32)
    path = gen.make_nifti(tmp_path / name, data, affine, dtype=stored, scl_slope=slope, scl_inter=3.0)
    got, raws = [], []
    with nifti.open_series(path) as opened:
        for volume, measured in opened.volumes_ahead(lambda raw: raws.append(raw.copy()), stored=True, depth=2,
                                                     measure=lambda v, t: (t, float(v.sum(dtype=np.float64)))):
            assert measured == (len(got), float(volume.sum(dtype=np.float64)))
            got.append(volume.copy(order="K"))
    with nifti.open_series(path) as opened:
        expected = list(opened.volumes(stored=True))
    assert len(got) == 9
    for a, b in zip(got, expected, strict=True):
        assert a.dtype == b.dtype and a.flags.f_contiguous == b.flags.f_contiguous
        np.testing.assert_array_equal(a, b)
    stored_bytes = (gzip.decompress if name.endswith(".gz") else bytes)(path.read_bytes())[352:]
    assert b"".join(raw.tobytes() for raw in raws) == stored_bytes


def test_volumes_inflated_straight_into_their_buffers_cross_gzip_members(tmp_path):
    """With access points recorded, volumes are inflated into their buffers; a member ending inside a volume
    and a piece left over from the header's read are joined as before."""
    data, affine = series_data(6)
    whole = gen.make_nifti(tmp_path / "bold.nii", data, affine).read_bytes()
    cuts = [0, 200, 352 + data[..., 0].nbytes * 2 + 77, len(whole)]
    path = tmp_path / "members.nii.gz"
    path.write_bytes(b"".join(gzip.compress(whole[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)))
    with nifti.open_series(path) as opened:
        opened.record_access_points(gzindex.AccessPoints(io.BytesIO(), spacing=4096))
        got = [volume.copy() for volume, _ in opened.volumes_ahead()]
        opened.finish()
    for t, volume in enumerate(got):
        np.testing.assert_array_equal(volume, data[..., t])


def test_a_truncated_series_fails_with_its_reason_and_leaves_no_thread(tmp_path):
    data, affine = series_data(10)
    whole = gen.make_nifti(tmp_path / "whole.nii", data, affine).read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(gzip.compress(whole)[: len(gzip.compress(whole)) // 2])
    with pytest.raises(nifti.InvalidNifti, match="the data end in volume"):
        series.analyse(tmp_path / "cut.nii.gz", viewer_budget=352 + 3 * data[..., 0].nbytes,
                       volumes_sink=io.BytesIO())
    assert not reader_threads()
