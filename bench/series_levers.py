"""The levers left for figure 6 (issue 14), measured one by one on a series (decision 0042).

``python -m bench.series_levers SERIES.nii.gz SERIES.nii [ROUNDS]`` prints, each in a fresh child process
(its own peak RSS), the rounds interleaved:

* ``inflate``: one pass over the ``.nii.gz`` into a 4 MiB buffer with ISA-L (the floor), zlib-ng (its Python
  binding), ``workers.zinflate`` making access points every ``gzindex.SPACING``, and rapidgzip with one and two
  threads when it can be imported (it is not a dependency: ``PYTHONPATH`` to a ``pip install --target`` copy);
* ``threads``: the CPU of each of the pass's two threads, the reader forced on (``readahead.spare_core``), for
  both files (``pass_stream``: the pass's thread while the volumes stream; ``pass_thread``: with the work
  before and after): with a core to spare the stream takes about the longer of the two;
* ``ring-N`` (not in the default run): the pass with a ring of N buffers, how long each thread waited for the
  other in the first 40 volumes and after;
* ``fused``: a volume's summary and temporal sums as numba loops (one volume at a time, and four volumes per
  pass over the sums) against ``temporal.SeriesSummary.add``, thread CPU a volume, when numba can be imported
  (not a dependency either).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIB = 2**20
VOLUMES = 65  # the first starts the sums; 64 are measured


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def inflate(kind: str, path: str) -> dict:
    """One pass over the gzip file with ``kind``; wall and CPU seconds, peak RSS."""
    buffer = bytearray(4 * MIB)
    start, cpu = time.perf_counter(), time.process_time()
    if kind == "zinflate":
        _zinflate_pass(path, buffer)
    else:
        with _opener(kind)(path, "rb") as source:
            while source.readinto(buffer):
                pass
    return {"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu, "rss": peak_rss_mib()}


def _opener(kind: str):
    if kind == "isal":
        from isal import igzip

        return igzip.open
    if kind == "zlib_ng":
        from zlib_ng import gzip_ng

        return gzip_ng.open
    if not kind.startswith("rapidgzip-"):
        raise ValueError(f"no inflater {kind!r}")
    import rapidgzip

    threads = int(kind.removeprefix("rapidgzip-"))
    return lambda path, mode: rapidgzip.open(path, parallelization=threads)


def _zinflate_pass(path: str, buffer: bytearray) -> None:
    """The reader's inflate as the pass makes it: zlib-ng through ``ctypes``, an access point every
    ``gzindex.SPACING`` of output (windows written to a scratch file)."""
    from workers import gzindex, zinflate

    data = memoryview(Path(path).read_bytes())
    with tempfile.TemporaryFile() as windows:
        inflater = zinflate.Inflater(points=gzindex.AccessPoints(windows))
        while not inflater.eof and len(data):
            inflater.decompress(data, len(buffer), out=buffer)
            data = inflater.unconsumed_tail


def threads(path: str) -> dict:
    """``series.analyse`` with the reader thread forced on: CPU of the reader and of the pass's thread."""
    from workers import readahead, series

    readahead.spare_core = lambda: True
    seen = {}
    read = readahead.ReadAhead._read

    def timed_read(self, fill, count):
        try:
            read(self, fill, count)
        finally:
            seen["reader"] = time.thread_time()

    readahead.ReadAhead._read = timed_read
    gather = series.gather

    def timed_gather(*args, **kwargs):
        began = time.thread_time()
        try:
            return gather(*args, **kwargs)
        finally:
            seen["pass_stream"] = time.thread_time() - began

    series.gather = timed_gather
    start, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
    with tempfile.TemporaryFile(dir=Path(path).parent) as volumes:
        series.analyse(path, volumes_sink=volumes)
    return {"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu,
            "pass_thread": time.thread_time() - own, "pass_stream": seen["pass_stream"],
            "reader": seen.get("reader", 0.0), "rss": peak_rss_mib()}


class _TimedQueue:
    """A ``ReadAhead`` queue whose waits are added up, the first ``EARLY`` apart from the rest."""

    EARLY = 40

    def __init__(self, inner, waits: list):
        self._inner, self._waits = inner, waits

    def get(self):
        began = time.perf_counter()
        item = self._inner.get()
        self._waits.append(time.perf_counter() - began)
        return item

    def put(self, item) -> None:
        self._inner.put(item)


def ring(path: str, depth: int) -> dict:
    """``series.analyse`` with a ring of ``depth`` buffers, the reader forced on: how long the reader waited for a
    free buffer (the pass behind) and the pass for a volume (the reader behind), early and later."""
    from workers import readahead, series

    readahead.spare_core = lambda: True
    readahead.ring_depth = lambda _depth, size: max(1, min(depth, readahead.RING_BYTES // max(size, 1)))
    reader_waits, pass_waits = [], []
    start_reading = readahead.ReadAhead.__init__

    def timed_init(self, *args, **kwargs):
        start_reading(self, *args, **kwargs)
        self._free, self._ready = _TimedQueue(self._free, reader_waits), _TimedQueue(self._ready, pass_waits)

    readahead.ReadAhead.__init__ = timed_init
    start = time.perf_counter()
    with tempfile.TemporaryFile(dir=Path(path).parent) as volumes:
        series.analyse(path, volumes_sink=volumes)
    early = _TimedQueue.EARLY
    return {"wall": time.perf_counter() - start, "reader_wait_early": sum(reader_waits[:early]),
            "reader_wait_later": sum(reader_waits[early:]), "pass_wait_early": sum(pass_waits[:early]),
            "pass_wait_later": sum(pass_waits[early:]), "rss": peak_rss_mib()}


def fused(path: str) -> dict:
    """Thread CPU a volume: numpy's ``SeriesSummary.add`` and numba loops doing the same work."""
    import nibabel as nib
    import numpy as np

    from workers import temporal

    image = nib.load(path)
    dtype = image.get_data_dtype()
    count = min(VOLUMES, image.shape[3])
    volumes = [np.asarray(image.dataobj[..., t]).astype(dtype, order="F") for t in range(count)]
    summary = temporal.SeriesSummary()
    summary.add(volumes[0])
    start = time.thread_time()
    for volume in volumes[1:]:
        summary.add(volume)
    out = {"numpy_ms": (time.thread_time() - start) / (count - 1) * 1e3}
    try:
        kernels = _numba_kernels()
    except ImportError:
        return out
    flat = np.stack([volume.ravel(order="F") for volume in volumes])
    for group in (1, 4):
        out |= _fused_per_volume(kernels, flat, group)
    return out


def _fused_per_volume(kernels, flat, group: int) -> dict:
    import numpy as np

    from workers.temporal import FOLD_EVERY as fold_every

    sums_group, summary_ints = kernels
    first = flat[0].astype(np.float32)
    recent_sum, recent_squares = np.empty_like(first), np.empty_like(first)
    counts = np.zeros(5, np.int64)
    sums_group(flat[1:1 + group], first, recent_sum, recent_squares, True)  # compiled (or loaded) before timing
    summary_ints(flat[1], counts)
    start = time.thread_time()
    count = len(flat)
    for t in range(1, count, group):
        sums_group(flat[t:t + group], first, recent_sum, recent_squares, (t - 1) % fold_every == 0)
    middle = time.thread_time()
    for t in range(1, count):
        summary_ints(flat[t], counts)
    end = time.thread_time()
    return {f"numba_sums_{group}_ms": (middle - start) / (count - 1) * 1e3,
            f"numba_summary_{group}_ms": (end - middle) / (count - 1) * 1e3}


def _numba_kernels():
    """A volume's integer summary (count, extremes of the non-zero values, exact sums) and the float32
    temporal sums of ``group`` volumes in one pass over them (the prototypes of lever (a), decision 0042)."""
    import numpy as np
    from numba import njit

    @njit(nogil=True, cache=False, boundscheck=False)
    def sums_group(volumes, first, recent_sum, recent_squares, start):
        for i in range(first.size):
            f = first[i]
            if start:
                d = np.float32(volumes[0, i]) - f
                a, b, k0 = d, d * d, 1
            else:
                a, b, k0 = recent_sum[i], recent_squares[i], 0
            for k in range(k0, volumes.shape[0]):
                d = np.float32(volumes[k, i]) - f
                a += d
                b += d * d
            recent_sum[i], recent_squares[i] = a, b

    @njit(nogil=True, cache=False, boundscheck=False)
    def summary_ints(flat, out):
        n, low, high = 0, np.int64(1 << 40), np.int64(-(1 << 40))
        total, squares = np.int64(0), np.int64(0)
        for i in range(flat.size):
            v = np.int64(flat[i])
            nonzero = v != 0
            n += nonzero
            total += v
            squares += v * v
            low = min(low, v if nonzero else low)
            high = max(high, v if nonzero else high)
        out[0], out[1], out[2], out[3], out[4] = n, low, high, total, squares

    return sums_group, summary_ints


def child(kind: str, path: str) -> dict:
    if kind == "threads":
        return threads(path)
    if kind == "fused":
        return fused(path)
    if kind.startswith("ring-"):
        return ring(path, int(kind.removeprefix("ring-")))
    return inflate(kind, path)


def run_child(kind: str, path: str) -> dict | None:
    result = subprocess.run([sys.executable, "-m", "bench.series_levers", "--child", kind, path],
                            capture_output=True, text=True, env=os.environ)
    if result.returncode != 0:
        return None  # e.g. rapidgzip or numba not importable
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[0] == "--child":
        print(json.dumps(child(argv[1], argv[2])))
        return
    gz, plain, *rest = argv
    rounds = int(rest[0]) if rest else 2
    runs = [(kind, gz) for kind in ("isal", "zlib_ng", "zinflate", "rapidgzip-1", "rapidgzip-2")]
    runs += [("threads", gz), ("threads", plain), ("fused", plain)]
    for round_ in range(rounds):
        for kind, path in runs if round_ % 2 == 0 else runs[::-1]:
            measured = run_child(kind, path)
            if measured is not None:
                shown = " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in measured.items())
                print(f"{kind} {Path(path).name}: {shown}", flush=True)


if __name__ == "__main__":
    main()
