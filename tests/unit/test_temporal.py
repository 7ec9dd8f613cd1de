"""workers.temporal: the blocked, fused sums give bit for bit what the plain computation gives."""

import numpy as np
import pytest

from workers import temporal


def plain_mean_and_sd(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The algorithm without blocks or fusing, on the whole 4D array: deviations from the first volume in the
    work type (float32 for integers), summed in it ``FOLD_EVERY`` volumes at a time from zero, each group
    added to float64 sums."""
    work = data.dtype if data.dtype.kind == "f" else np.dtype(np.float32)
    first = data[..., 0].astype(work)
    total, squares = np.zeros(first.shape), np.zeros(first.shape)
    for start in range(1, data.shape[-1], temporal.FOLD_EVERY):
        recent, recent_squares = np.zeros(first.shape, work), np.zeros(first.shape, work)
        for t in range(start, min(start + temporal.FOLD_EVERY, data.shape[-1])):
            deviation = data[..., t].astype(work) - first
            recent += deviation
            recent_squares += deviation * deviation
        total += recent
        squares += recent_squares
    n = data.shape[-1]
    variance = squares / n - (total / n) ** 2
    return (first + total / n).astype(np.float32), np.sqrt(np.maximum(variance, 0)).astype(np.float32)


def series(dtype, volumes: int, order: str) -> np.ndarray:
    rng = np.random.default_rng(volumes)
    data = rng.standard_normal((13, 17, 11, volumes)) * 300 + 1000
    if np.dtype(dtype).kind == "f":
        data[0, 0, 0, :] = np.nan
        data[1, 0, 0, volumes // 2] = np.inf
        data[2, 0, 0, :] = -0.0
        data[3, 0, 0, :] = 1e30  # scaled data: values far past any integer's range
    return np.asarray(data.astype(dtype), order=order)


@pytest.mark.filterwarnings("ignore:invalid value")
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("volumes", [1, 2, 3, 16, 17, 33, 40])
@pytest.mark.parametrize(("block", "order"), [(1000, "F"), (temporal.BLOCK, "F"), (999, "C")])
def test_temporal_mean_and_sd_are_those_of_the_plain_sums(monkeypatch, dtype, volumes, block, order):
    """Blocks that do not divide the volume (13 x 17 x 11 = 2431 voxels), series that end part-way through a
    group of ``FOLD_EVERY``, NaN, infinities, negative zeros and large values."""
    monkeypatch.setattr(temporal, "BLOCK", block)
    data = series(dtype, volumes, order)
    summary = temporal.SeriesSummary(summaries=False)
    for t in range(volumes):
        summary.add(data[..., t])
    mean, sd = plain_mean_and_sd(data)
    assert summary.temporal_mean().tobytes() == mean.tobytes()
    assert summary.temporal_sd().tobytes() == sd.tobytes()
    finite = np.isfinite(data).all(axis=-1) & (np.abs(data) < 1e29).all(axis=-1)
    np.testing.assert_allclose(summary.temporal_mean()[finite], data.mean(axis=-1)[finite], rtol=1e-5)
