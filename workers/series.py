"""One pass over an uploaded file, a volume at a time: everything the image page shows.

A 4D series can be tens of GiB, so it is never held whole: the reader hands
out one volume at a time and each step keeps only what it needs from it (the
first volume for the statistics and the slices, running sums for the temporal
mean and SD, one axial plane for each volume the mosaic shows). Peak memory is
a few volumes plus a fixed overhead, whatever the number of volumes. A 3D map
is the same pass with one volume.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import clusters, gzindex, nifti, planes, render, similarity, slices, stats, temporal, thresholds, viewer


@dataclass
class Analysis:
    """The results of one pass: plain data and PNG bytes; ``maps`` holds a series' temporal maps."""

    report: dict
    numbers: dict
    pictures: dict[str, bytes]
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    vector: np.ndarray | None = None


@dataclass
class _Gathered:
    """What the pass keeps from the volumes it has seen."""

    summary: temporal.SeriesSummary
    picks: list[int]
    first: np.ndarray | None = None
    first_classes: stats.VoxelClasses | None = None
    first_extremes: planes.Extremes | None = None
    planes: list[np.ndarray] = field(default_factory=list)


def analyse(path, *, max_decompressed_bytes: int = nifti.DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_array_bytes: int = nifti.DEFAULT_MAX_ARRAY_BYTES, viewer_budget: int = viewer.DEFAULT_BUDGET_BYTES,
            volumes_sink=None, map_type: str | None = None, with_clusters: bool = True) -> Analysis:
    """Check, measure and render a file in one streaming pass; raises ``nifti.InvalidNifti`` for a bad file.

    The viewer's copies are cut in the same pass (``files``); volumes served one by one
    are written to ``volumes_sink`` when the series needs them (``numbers["viewer"]`` says).
    The thumbnails follow ``map_type`` (the uploader's, or the inferred one for
    "Other"): its threshold, outlines or labels, over the MNI template unless
    the statistics say the map is not in MNI space, at the threshold of the
    cluster table (``with_clusters`` False leaves it out, for benchmarks).
    """
    with nifti.open_series(path, max_decompressed_bytes=max_decompressed_bytes,
                           max_array_bytes=max_array_bytes) as series:
        affine = series.affine
        shape = series.shape
        copies = viewer_copies(series, viewer_budget, volumes_sink)
        points = access_points(series, copies.plan, volumes_sink)
        raw_sink = None if copies.plan.mode == "as_is" else copies.add
        measure = None if series.header.compressed else measure_on_reader
        gathered = gather(series.volumes_ahead(raw_sink, stored=True, measure=measure), series.n_volumes, affine)
        report = series.finish()
    summary = gathered.summary
    report.findings.extend(nifti.findings_from_counts(summary.n_voxels, summary.n_nan, summary.n_inf,
                                                      summary.n_values))
    is_series = len(shape) == 4
    # each plane's extremes serve the statistics, the cluster table and the pictures
    extremes = gathered.first_extremes
    if extremes is None:
        extremes = planes.plane_extremes(gathered.first)
    numbers = stats.first_volume_statistics(gathered.first, affine, shape=shape,
                                            volumes=summary.volumes if is_series else None,
                                            classes=gathered.first_classes, planes=extremes)
    report_dict = report.to_dict()
    numbers.update(header_map_type(report_dict))
    shown = slices.shown_type(map_type, numbers)
    if with_clusters:
        numbers.update(clusters.for_processed(gathered.first, affine, report_dict, numbers, shown, extremes))
    pictures = render.render_all(gathered.first, affine, map_type=shown, mni=not numbers.get("not_mni"),
                                 threshold=slices.threshold_for(shown, gathered.first, numbers, report_dict),
                                 planes=extremes)
    vector = similarity_vector(gathered.first, affine, shown, numbers)
    analysis = Analysis(report_dict, numbers, pictures, vector=vector)
    if is_series:
        add_series_results(analysis, gathered, shape, affine)
    add_viewer_files(analysis, copies, gathered.first, affine, viewer_budget, points)
    return analysis


def header_map_type(report: dict) -> dict:
    """The inferred map type the header gives (it wins over a guess from the values), with the reason."""
    from_header = thresholds.map_type_from_header(report)
    if from_header is None:
        return {}
    return {"inferred_map_type": from_header[0], "inferred_map_type_why": from_header[1]}


def access_points(series: nifti.Series, plan: viewer.Plan, windows) -> gzindex.AccessPoints | None:
    """The index of a gzip series whose volumes are served from it, its windows written to ``windows``."""
    if not plan.by_points or windows is None:
        return None
    points = gzindex.AccessPoints(windows)
    series.record_access_points(points)
    return points


def viewer_copies(series: nifti.Series, budget: int, volumes_sink) -> viewer.Copies:
    plan = viewer.plan(series.shape[:3], series.n_volumes, series.volume_bytes, budget,
                       compressed=series.header.compressed)
    return viewer.Copies(plan, series.header_bytes(1), series.header_bytes(plan.frames), volumes_sink)


def add_viewer_files(analysis: Analysis, copies: viewer.Copies, first: np.ndarray, affine: np.ndarray,
                     budget: int, points: gzindex.AccessPoints | None = None) -> None:
    """The viewer's copy (unless the file is loaded as it is), the volume index or the gzip file's access
    points, the temporal maps as NIfTI."""
    plan = copies.plan
    if plan.mode == "frames":
        analysis.files["viewer"] = copies.first_volumes()
    elif plan.mode == "compact":
        analysis.files["viewer"] = viewer.compact_copy(first, affine, plan.step)
    if plan.by_offset or points is not None:
        analysis.files["volume_header"] = copies.volume_header
    if points is not None:
        analysis.files["access_points"] = points.table()
    elif plan.on_demand and not (plan.by_offset or plan.by_points):
        analysis.files["volume_index"] = copies.index()
    if analysis.maps and first.size * 4 + viewer.HEADER_BYTES <= budget:
        for kind, volume in analysis.maps.items():
            analysis.files[f"{kind}_map"] = viewer.float_copy(volume, affine)
    analysis.numbers["viewer"] = plan.to_dict() | {"n_volumes": analysis.numbers["n_volumes"]}


def measure_on_reader(volume: np.ndarray, index: int) -> temporal.Measured:
    """A volume's summary and counts, taken on the reader thread of an uncompressed series: its read is a copy
    from the page cache, so the reader has time for it and the pass's thread keeps only the temporal sums."""
    return temporal.measure(volume, summarise=index < stats.MAX_VOLUMES_LISTED)


def gather(volumes, n_volumes: int, affine: np.ndarray) -> _Gathered:
    """Feed every (volume, its measures or None) (floats, or integers as stored) to the summaries; keep the
    first volume and the mosaic's planes, as floats (a series' first volume copied: a volume read ahead
    lives in a buffer that is used again; a 3D map is read whole into an array of its own).

    A first volume of floats is classified once (``first_classes``, after its planes' extremes, which
    say whether it holds NaN or infinities), for the summaries and the statistics; a 3D map keeps no
    per-volume summary (its statistics are that summary).
    """
    is_series = n_volumes > 1
    gathered = _Gathered(temporal.SeriesSummary(temporal=is_series, summaries=is_series),
                         render.mosaic_picks(n_volumes) if is_series else [])
    wanted = set(gathered.picks)
    for t, (volume, measured) in enumerate(volumes):
        classes = None
        if gathered.first is None:
            gathered.first = float_copy(volume) if is_series else as_floats(volume)  # a 3D map's is its own
            if volume.dtype.kind == "f":  # the same values as stored: one classification serves both
                gathered.first_extremes = planes.plane_extremes(gathered.first)
                classes = gathered.first_classes = stats.classify(gathered.first,
                                                                  gathered.first_extremes.all_finite)
        gathered.summary.add(volume, measured, classes)
        if t in wanted:
            gathered.planes.append(render.mosaic_plane(as_floats(volume), affine))
    return gathered


def float_copy(volume: np.ndarray) -> np.ndarray:
    """A volume as a float32 array of its own, in its memory order."""
    return volume.astype(np.float32 if volume.dtype.kind != "f" else volume.dtype, order="K", copy=True)


def as_floats(volume: np.ndarray) -> np.ndarray:
    """A volume of stored integers (at most 16 bits, exact in float32) as float32; floats as they are."""
    return volume if volume.dtype.kind == "f" else volume.astype(np.float32)


def add_series_results(analysis: Analysis, gathered: _Gathered, shape, affine: np.ndarray) -> None:
    """The mosaic, the temporal mean and tSNR maps with their pictures, and the series' numbers."""
    summary = gathered.summary
    mean = summary.temporal_mean()
    tsnr = temporal.tsnr_map(mean, summary.temporal_sd())
    analysis.maps = {"tmean": mean, "tsnr": tsnr}
    analysis.pictures["mosaic"] = render.mosaic_png(gathered.planes, gathered.picks, shape[:3], affine)
    analysis.pictures["tmean"] = temporal_picture(mean, affine, map_type="A")
    analysis.pictures["tsnr"] = temporal_picture(tsnr, affine, map_type="Other")
    analysis.numbers["series"] = series_facts(analysis.report, shape) | temporal.series_numbers(mean, tsnr)


def temporal_picture(volume: np.ndarray, affine: np.ndarray, *, map_type: str) -> bytes:
    """Orthogonal slices of a temporal map over the series' own grid: the mean as anatomy, tSNR in colour."""
    return slices.ortho(slices.scene(volume, affine, threshold=None, map_type=map_type, mni=False))


def series_facts(report: dict, shape) -> dict:
    """Volumes, repetition time and its unit, as the header gives them."""
    zooms = report.get("zooms") or []
    tr = zooms[3] if len(zooms) > 3 and isinstance(zooms[3], (int, float)) and zooms[3] > 0 else None
    return {"n_volumes": int(shape[3]), "tr": tr, "time_unit": (report.get("units") or {}).get("time", "unknown")}


def similarity_vector(volume: np.ndarray, affine: np.ndarray, map_type: str, numbers: dict) -> np.ndarray | None:
    """The map's similarity vector, or None (ROI, parcellation, not in MNI); what counted goes in ``numbers``."""
    representation = similarity.represent(volume, affine, map_type=map_type, not_mni=bool(numbers.get("not_mni")))
    numbers["similarity"] = representation.summary()
    return representation.values


def first_volume_representation(path, *, max_decompressed_bytes: int = nifti.DEFAULT_MAX_DECOMPRESSED_BYTES,
                                max_array_bytes: int = nifti.DEFAULT_MAX_ARRAY_BYTES) -> similarity.Representation:
    """A searched file's similarity representation, from its first volume only (the rest is never read)."""
    with nifti.open_series(path, max_decompressed_bytes=max_decompressed_bytes,
                           max_array_bytes=max_array_bytes) as series:
        affine = series.affine
        first = next(iter(series.volumes()))
        shape = series.shape
    numbers = stats.first_volume_statistics(first, affine, shape=shape)
    return similarity.represent(first, affine, map_type=numbers.get("inferred_map_type"),
                                not_mni=bool(numbers.get("not_mni")))
