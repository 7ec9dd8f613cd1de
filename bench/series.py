"""Figure 6: a long 4D series through the worker's streaming pass (issue 14).

Floor: one streaming read of the same file (ISA-L gunzip for ``.nii.gz``,
plain reads for ``.nii``) into a 4 MiB buffer: the least any processing of
the file must do. Ours: ``workers.series.analyse`` as the worker runs it
(statistics, temporal maps, thumbnails, the viewer's copies, the per-volume
gzip members written to a file). Each run is a fresh child process, so its
peak RSS is its own; the series and one twice as long give the memory ratio.

Size: ``BENCH_SERIES_GIB`` (default 8) GiB as float32, stored as int16 (as
scanners write them), 91 x 109 x 91 volumes; quick mode uses a few MiB.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import MIB, Row, figure_main, peak_rss_bytes, quick, run_child

FIGURE = "6 large series"
SHAPE = (91, 109, 91)
THROUGHPUT_GOAL = 0.8
RSS_GOAL = 512 * MIB
GROWTH_GOAL = 1.1


def series_gib() -> float:
    return 0.02 if quick() else float(os.environ.get("BENCH_SERIES_GIB", "8"))


def volumes_for(gib: float) -> int:
    return max(2, int(gib * 2**30 / (np.prod(SHAPE) * 4)))


def write_series(path: Path, volumes: int) -> Path:
    """A brain-like int16 series with noise (16 noise volumes cycled: generating noise is not what is measured)."""
    from tests.niftigen import mni_affine, write_long_series

    ijk = np.indices(SHAPE).astype(np.float32)
    centre, radius = (np.array(SHAPE) - 1) / 2, np.array(SHAPE) * 0.42
    distance = sum(((ijk[a] - centre[a]) / radius[a]) ** 2 for a in range(3))
    base = np.where(distance <= 1, 1000 + 200 * np.exp(-distance * 3), 0).astype(np.float32)
    rng = np.random.default_rng(0)
    noise = [(rng.standard_normal(SHAPE) * 20 * (distance <= 1)).astype(np.float32) for _ in range(16)]
    volume = lambda t: base * (1 + 0.01 * np.sin(t / 5)) + noise[t % 16]  # noqa: E731
    gz = path.name.endswith(".gz")
    if gz:
        return write_long_series(path, SHAPE, volumes, volume, mni_affine(2.0))
    plain = write_long_series(path.with_suffix(".tmp.gz"), SHAPE, volumes, volume, mni_affine(2.0))
    _gunzip(plain, path)
    plain.unlink()
    return path


def _gunzip(source: Path, target: Path) -> None:
    from isal import igzip

    with igzip.open(source, "rb") as inflated, open(target, "wb") as out:
        while chunk := inflated.read(4 * MIB):
            out.write(chunk)


def floor(path: str) -> None:
    """One streaming pass over the file's bytes (inflated for .nii.gz)."""
    from isal import igzip

    buffer = bytearray(4 * MIB)
    opener = igzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as source:
        while source.readinto(buffer):
            pass


def ours(path: str) -> None:
    from workers import series

    with tempfile.TemporaryFile(dir=Path(path).parent) as volumes:
        series.analyse(path, volumes_sink=volumes)


def child(kind: str, path: str) -> dict:
    import workers.series  # noqa: F401 - imports are not part of the time

    start, cpu = time.perf_counter(), time.process_time()
    {"ours": ours, "floor": floor}[kind](path)
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "peak_rss": peak_rss_bytes()}


def measure(kind: str, path: Path) -> dict:
    return run_child("bench.series", "--child", kind, str(path), timeout=7200)


def throughput_rows(name: str, path: Path, float_bytes: int) -> list[Row]:
    measure("floor", path)  # the page cache holds what it can for both
    base, run = measure("floor", path), measure("ours", path)
    ratio = base["seconds"] / run["seconds"]
    return [
        Row(FIGURE, f"{name}: throughput vs floor", float_bytes / run["seconds"], float_bytes / base["seconds"],
            "MiB/s", ratio, f">= {THROUGHPUT_GOAL:g}x floor", ratio >= THROUGHPUT_GOAL,
            f"MiB/s of float32 data; ours {run['seconds']:.1f} s, floor {base['seconds']:.1f} s; CPU "
            f"{run['cpu']:.1f} s / {base['cpu']:.1f} s = {base['cpu'] / run['cpu']:.2f}"),
        Row(FIGURE, f"{name}: worker peak RSS", run["peak_rss"], float_bytes, "MiB", run["peak_rss"] / float_bytes,
            f"<= {RSS_GOAL / MIB:.0f} MiB", run["peak_rss"] <= RSS_GOAL, "reference = the series as float32"),
    ]


def growth_row(folder: Path, volumes: int) -> Row:
    """Peak RSS for the series and one twice as long (.nii.gz)."""
    peaks = []
    for n, count in enumerate((volumes, 2 * volumes)):
        path = write_series(folder / f"growth{n}.nii.gz", count)
        peaks.append(measure("ours", path)["peak_rss"])
        path.unlink()
    ratio = peaks[1] / peaks[0]
    return Row(FIGURE, f"peak RSS, {2 * volumes} vs {volumes} volumes", peaks[1], peaks[0], "MiB", ratio,
               f"<= {GROWTH_GOAL:g}x", ratio <= GROWTH_GOAL)


def run() -> list[Row]:
    gib = series_gib()
    volumes = volumes_for(gib)
    float_bytes = volumes * int(np.prod(SHAPE)) * 4
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-series-", dir=os.environ.get("BENCH_TMP")) as folder:
        folder = Path(folder)
        for suffix in (".nii.gz", ".nii"):
            path = write_series(folder / f"series{suffix}", volumes)
            rows += throughput_rows(f"{volumes} volumes, {gib:g} GiB as float32, {suffix}", path, float_bytes)
            path.unlink()
        rows.append(growth_row(folder, max(2, volumes // 2)))
    return rows


def main(argv=None) -> None:
    figure_main(__doc__, run, child, argv)


if __name__ == "__main__":
    sys.exit(main())
