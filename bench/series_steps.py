"""The pass's work per volume of a series in this tree and in another, side by side in one process (figure 6).

``python -m bench.series_steps SERIES OTHER_TREE [ROUNDS]``: the thread CPU a volume of
``SeriesSummary.add`` (classification, summary, temporal sums) and of the temporal maps, over the same
64 volumes of SERIES (as stored: integers stay integers), alternating this tree's ``workers.temporal``
and ``workers.stats`` with OTHER_TREE's (e.g. a worktree of ``main``). One process and the same arrays
for both: on a shared machine, runs in separate processes differ by more than the change measured.
"""

from __future__ import annotations

import importlib
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np

VOLUMES = 65  # the first starts the sums; 64 are measured


def other_tree_temporal(tree: Path):
    """OTHER_TREE's ``workers.temporal`` with its own ``workers.stats`` (the rest of ``workers`` is this tree's)."""
    package = types.ModuleType("other_workers")
    package.__path__ = [str(tree / "workers")]
    sys.modules["other_workers"] = package
    return importlib.import_module("other_workers.temporal")


def stored_volumes(path: str) -> list[np.ndarray]:
    import nibabel as nib

    series = nib.load(path)
    dtype = series.get_data_dtype()
    return [np.asarray(series.dataobj[..., t]).astype(dtype, order="F") for t in range(VOLUMES)]


def cpu_per_volume(temporal, volumes: list[np.ndarray]) -> float:
    summary = temporal.SeriesSummary()
    summary.add(volumes[0])
    start = time.thread_time()
    for volume in volumes[1:]:
        summary.add(volume)
    summary.temporal_mean(), summary.temporal_sd()
    return (time.thread_time() - start) / (len(volumes) - 1)


def main(argv=None) -> None:
    path, other, *rest = argv if argv is not None else sys.argv[1:]
    from workers import temporal

    trees = {"this": temporal, "other": other_tree_temporal(Path(other))}
    volumes = stored_volumes(path)
    times = {name: [] for name in trees}
    for round_ in range(int(rest[0]) if rest else 10):
        for name in sorted(trees, reverse=round_ % 2 == 1):  # each goes first in every other round
            times[name].append(cpu_per_volume(trees[name], volumes) * 1e3)
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.2f} ms a volume ({min(values):.2f}-{max(values):.2f})")


if __name__ == "__main__":
    main()
