"""Figure 1: processing one map (validate + statistics + every thumbnail, the worker's pure steps).

Floor: gunzip + nibabel load of the same file to a float32 array, the least
any processing must do. Baseline: the same pictures by nilearn, nibabel load
then ``plot_glass_brain``, ``plot_stat_map`` (orthogonal cuts through the
peak) and ``plot_stat_map(display_mode="z", cut_coords=10)`` (the axial
mosaic), thresholded at z = 3.1 like ours, saved as PNG with matplotlib's Agg
backend at 100 dpi (NeuroVault's size; ours are drawn at 2x). The maps are
processed as Z maps. One on-demand slice (load the file, draw one axial
slice, no cache) is timed on the 2 mm map. Steady state is timed in this process after one
warm-up call; the first map of a fresh process and peak memory are
measured in a child process per map (``python -m bench.processing --child``).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from bench.common import MIB, Row, figure_main, median_times, peak_rss_bytes, quick, run_child

FIGURE = "1 processing"
FLOOR_GOAL = 2.0
BASELINE_GOAL = 20.0
ON_DEMAND_GOAL_MS = 50.0
MAP_TYPE = "Z"
RSS_GOAL_4D = 3.0
CLUSTERS_GOAL = 1.25


# --------------------------------------------------------------------------
# the maps

def _brain_like(shape, voxel_mm, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth signed map, zero outside a brain-sized ellipsoid centred in the grid (MNI-like axes)."""
    from tests.niftigen import mni_like_data

    if shape == (91, 109, 91) and voxel_mm == 2.0:
        return mni_like_data(2.0, seed=seed)
    data, affine = mni_like_data(voxel_mm, seed=seed)
    padded = np.zeros(shape, np.float32)
    region = tuple(slice(0, min(a, b)) for a, b in zip(shape, data.shape, strict=True))
    padded[region] = data[region]
    return padded, affine


def _series(shape, volumes, voxel_mm, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """A 4D series: a smooth brain-like volume whose amplitude and noise change with time."""
    affine = np.diag([-voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = [voxel_mm * shape[0] / 2, -voxel_mm * shape[1] / 2 - 18, -voxel_mm * shape[2] / 2 + 12]
    ijk = np.indices(shape).astype(np.float32)
    centre = (np.array(shape, np.float32) - 1) / 2
    radius = np.array(shape, np.float32) * 0.42
    distance = sum(((ijk[a] - centre[a]) / radius[a]) ** 2 for a in range(3))
    inside = distance <= 1
    base = np.where(inside, 100 + 20 * np.exp(-distance * 3), 0).astype(np.float32)
    rng = np.random.default_rng(seed)
    series = np.empty(shape + (volumes,), np.float32, order="F")
    for t in range(volumes):
        series[..., t] = base * (1 + 0.02 * np.sin(t / 5)) + inside * rng.standard_normal(shape, np.float32)
    return series, affine


def make_maps(folder: Path, small: bool) -> dict[str, Path]:
    """The three files of the figure (smaller ones in quick mode), as .nii.gz."""
    from tests.niftigen import make_nifti

    folder.mkdir(parents=True, exist_ok=True)
    if small:
        specs = {"2 mm 3D (4 mm in quick mode)": lambda: _brain_like((46, 55, 46), 4.0),
                 "4D 64x64x40x10": lambda: _series((64, 64, 40), 10, 3.0)}
    else:
        specs = {"2 mm 3D 91x109x91": lambda: _brain_like((91, 109, 91), 2.0),
                 "4D 64x64x40x200": lambda: _series((64, 64, 40), 200, 3.0),
                 "1 mm 3D 182x218x182": lambda: _brain_like((182, 218, 182), 1.0)}
    maps = {}
    for n, (name, build) in enumerate(specs.items()):
        data, affine = build()
        maps[name] = make_nifti(folder / f"map{n}.nii.gz", data, affine)
    return maps


# --------------------------------------------------------------------------
# what is timed

def ours(path, map_type=MAP_TYPE, with_clusters=True) -> dict:
    """The worker's pure steps, as ``webapp.processing.tasks.analyse`` runs them (without its Flask config): one
    streaming pass, volume by volume.

    The map is uploaded as a Z map (its cluster table at |z| >= 3.1); as "Other" the table is at the 95th
    percentile of |values|, many small clusters of noise; ``with_clusters`` False leaves the table out.
    """
    from workers import series

    with tempfile.TemporaryFile() as volumes:
        result = series.analyse(path, volumes_sink=volumes, map_type=map_type, with_clusters=with_clusters)
    return {"numbers": result.numbers, "pictures": result.pictures}


def ours_without_clusters(path) -> dict:
    return ours(path, with_clusters=False)


def on_demand_slice(path, loaded=None) -> bytes:
    """What ``/images/<id>/slices.png?axis=z&mm=10`` does on a cache miss: read the first volume, draw one slice.

    ``loaded`` (affine, volume): the map already in the web process's memory (``ondemand.LoadedMaps``),
    as for every slice of a map after the first.
    """
    from workers import slices

    affine, volume = loaded or first_volume_of(path)
    threshold = slices.threshold_for(MAP_TYPE, volume, {}, {})
    return slices.on_demand(volume, affine, axis=2, mm=10.0, default_threshold=threshold, map_type=MAP_TYPE)


def first_volume_of(path) -> tuple[np.ndarray, np.ndarray]:
    """(affine, first volume) as ``webapp.images.ondemand.loaded_map`` reads them."""
    from workers import nifti

    with nifti.open_series(path) as series:
        return np.asarray(series.affine, np.float64), next(iter(series.volumes()))


def floor(path) -> np.ndarray:
    return np.asanyarray(nib.load(path).get_fdata(dtype=np.float32))


def nilearn_way(path) -> list[bytes]:
    """The same three pictures by nilearn, PNG through matplotlib Agg."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from nilearn import plotting

    image = nib.load(path)
    data = image.get_fdata(dtype=np.float32)
    volume = nib.Nifti1Image(data[..., 0] if data.ndim == 4 else data, image.affine)
    plots = (lambda: plotting.plot_glass_brain(volume, threshold=3.1, plot_abs=False, colorbar=True),
             lambda: plotting.plot_stat_map(volume, threshold=3.1),
             lambda: plotting.plot_stat_map(volume, threshold=3.1, display_mode="z", cut_coords=10))
    pngs = []
    with tempfile.TemporaryDirectory(prefix="bench-nilearn-") as folder:
        for n, plot in enumerate(plots):
            output = Path(folder) / f"{n}.png"
            display = plot()
            display.savefig(output, dpi=100)
            display.close()
            pngs.append(output.read_bytes())
    plt.close("all")
    return pngs


# --------------------------------------------------------------------------
# child process: the first map and peak memory

def child(kind: str, path: str) -> dict:
    """Import, then one call timed cold; peak RSS before and after."""
    import workers.series  # noqa: F401 - imports are not part of the first call's time

    before = peak_rss_bytes()
    start = time.perf_counter()
    {"ours": ours, "floor": floor}[kind](path)
    return {"seconds": time.perf_counter() - start, "peak_rss": peak_rss_bytes(), "rss_before": before}


# --------------------------------------------------------------------------
# the figure

def decoded_bytes(path) -> int:
    image = nib.load(path)
    return int(np.prod(image.shape)) * 4


def rows_for(name: str, path: Path, repeats: int, baseline_repeats: int) -> list[Row]:
    ours(path)
    floor(path)
    ours_without_clusters(path)
    times = median_times({"floor": lambda: floor(path), "ours": lambda: ours(path),
                          "without clusters": lambda: ours_without_clusters(path),
                          "as Other": lambda: ours(path, "Other")}, repeats)
    ratio = times["ours"] / times["floor"]
    rows = [Row(FIGURE, f"{name}: ours vs floor", times["ours"], times["floor"], "ms", ratio,
                f"<= {FLOOR_GOAL:g}x floor", ratio <= FLOOR_GOAL)]
    added = times["ours"] / times["without clusters"]
    goal = name.startswith("2 mm")
    rows.append(Row(FIGURE, f"{name}: with the cluster table and labels (Z map)", times["ours"],
                    times["without clusters"], "ms", added, f"<= {CLUSTERS_GOAL:g}x" if goal else "",
                    (added <= CLUSTERS_GOAL) if goal else None, "reference = the same steps without them"))
    rows.append(Row(FIGURE, f"{name}: with the cluster table and labels (as Other)", times["as Other"],
                    times["without clusters"], "ms", times["as Other"] / times["without clusters"],
                    note="95th percentile of |values|: clusters of noise, 50 listed per sign"))
    if baseline_repeats:
        nilearn_way(path)
        baseline = median_times({"nilearn": lambda: nilearn_way(path)}, baseline_repeats)["nilearn"]
        speedup = baseline / times["ours"]
        rows.append(Row(FIGURE, f"{name}: ours vs nilearn plots", times["ours"], baseline, "ms", speedup,
                        f">= {BASELINE_GOAL:g}x faster", speedup >= BASELINE_GOAL, "ratio = nilearn / ours"))
    if name.startswith("2 mm"):
        on_demand_slice(path)
        slice_time = median_times({"slice": lambda: on_demand_slice(path)}, repeats)["slice"]
        rows.append(Row(FIGURE, f"{name}: one on-demand slice, uncached", slice_time, None, "ms", None,
                        f"<= {ON_DEMAND_GOAL_MS:g} ms p50", slice_time * 1000 <= ON_DEMAND_GOAL_MS,
                        "read the first volume + one axial slice at 2x"))
        loaded = first_volume_of(path)
        drawn_time = median_times({"slice": lambda: on_demand_slice(path, loaded)}, repeats)["slice"]
        rows.append(Row(FIGURE, f"{name}: one on-demand slice, map already loaded", drawn_time, None, "ms", None,
                        note="the next slices of a map: its volume kept by the web process"))
    cold, cold_floor = run_child("bench.processing", "--child", "ours", str(path)), \
        run_child("bench.processing", "--child", "floor", str(path))
    rows.append(Row(FIGURE, f"{name}: first map in a fresh process", cold["seconds"], times["ours"], "ms",
                    cold["seconds"] / times["ours"], note="reference = steady state; MNI mask built once"))
    size = decoded_bytes(path)
    is_4d = len(nib.load(path).shape) == 4
    rss_ratio = cold["peak_rss"] / size
    rows.append(Row(FIGURE, f"{name}: peak RSS (array {size / MIB:.0f} MiB)", cold["peak_rss"],
                    cold_floor["peak_rss"], "MiB", rss_ratio,
                    f"<= {RSS_GOAL_4D:g}x array" if is_4d else "", (rss_ratio <= RSS_GOAL_4D) if is_4d else None,
                    f"ratio = peak / array; reference = the floor's peak; "
                    f"{cold['rss_before'] / MIB:.0f} MiB after imports"))
    return rows


def run() -> list[Row]:
    small = quick()
    with tempfile.TemporaryDirectory(prefix="bench-processing-") as folder:
        maps = make_maps(Path(folder), small)
        rows = []
        for name, path in maps.items():
            big = "1 mm" in name or "x200" in name
            rows += rows_for(name, path, repeats=3 if small else (7 if big else 21),
                             baseline_repeats=0 if small else (2 if big else 3))
        if small:
            rows.append(Row(FIGURE, "nilearn baseline", None, note="skipped in quick mode (nilearn's import: seconds)"))
        return rows


def main(argv=None) -> None:
    figure_main(__doc__, run, child, argv)


if __name__ == "__main__":
    sys.exit(main())
