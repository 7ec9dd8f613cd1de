"""What a pass over a series keeps of its volumes: per-volume summaries, value counts, temporal mean and SD.

Memory is a few volumes whatever the series' length (``workers.series`` feeds one volume at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .stats import MAX_VOLUMES_LISTED, VoxelClasses, classify, flat_view, summary

FOLD_EVERY = 16  # volumes summed in float32 before their sums join the float64 ones
BLOCK = 65536  # voxels a block of the temporal sums: its float32 deviations and sums stay in a core's cache


@dataclass(frozen=True)
class Measured:
    """What one volume contributes on its own: its summary (None past ``MAX_VOLUMES_LISTED``) and counts."""

    summary: dict | None
    n_nan: int
    n_inf: int
    n_values: int


def measure(volume: np.ndarray, *, summarise: bool = True, classes: VoxelClasses | None = None) -> Measured:
    """One volume's summary and counts: pure, so a reader thread can take them while the pass sums the last.

    ``classes``: the volume's ``stats.classify``, when the caller has it already.
    """
    if classes is None:
        classes = classify(volume)
    return Measured(summary(classes.values) if summarise else None, classes.n_nan, classes.n_inf,
                    classes.values.size)


class SeriesSummary:
    """What one pass over a series gathers, a volume at a time: per-volume summaries, value counts,
    and the temporal mean and standard deviation of every voxel.

    The temporal sums are of each volume minus the first (deviations in the
    volume's type, float32 for integers, sums in float64), so a signal of 1000
    with a deviation of 1 keeps its precision; memory is a few volumes whatever
    the series' length. Volumes of integers (``Series.volumes(stored=True)``)
    are measured as they are: no NaN to look for, half the bytes to read.

    ``summaries`` False keeps no per-volume summary: a 3D map's statistics summarise its one volume
    themselves, and a second mean and SD of it cost a pass over its values for nothing.
    """

    def __init__(self, temporal: bool = True, summaries: bool = True):
        self.temporal = temporal
        self.summaries = summaries
        self.volumes: list[dict] = []
        self.n_volumes = 0
        self.n_voxels = self.n_nan = self.n_inf = self.n_values = 0
        self._first = self._sum = self._squares = None

    def add(self, volume: np.ndarray, measured: Measured | None = None,
            classes: VoxelClasses | None = None) -> None:
        """Count and sum one volume; ``measured`` is ``measure(volume, ...)`` when already taken (on the
        reader thread, for an uncompressed series); else ``classes``, its ``stats.classify``, when the
        caller has it."""
        wanted = self.summaries and len(self.volumes) < MAX_VOLUMES_LISTED
        if measured is None:
            measured = measure(volume, summarise=wanted, classes=classes)
        if measured.summary is not None and wanted:
            self.volumes.append(measured.summary)
        self.n_volumes += 1
        self.n_voxels += volume.size
        self.n_nan += measured.n_nan
        self.n_inf += measured.n_inf
        self.n_values += measured.n_values
        if self.temporal:
            self._accumulate(volume)

    def _accumulate(self, volume: np.ndarray) -> None:
        """In the volume's memory order (flat views): mixing a Fortran-ordered volume with C-ordered
        sums made every pass strided, ten times slower.

        Deviations are summed in float32 for ``FOLD_EVERY`` volumes (pure float32 passes, three times
        faster than adding float32 into float64), then folded into the float64 sums. Integers are
        copied into the float32 buffer first (exact for 16 bits), then worked on in place: a third
        faster than a subtraction that casts its operands as it goes. The passes run block by
        block (``BLOCK`` voxels, in the core's cache): a quarter faster than four passes over the
        whole volume through memory. The fold is made block by block too, by the volume that
        completes the float32 sums, while their block is in the cache; the next volume writes its
        deviations over them instead of adding them to zeros (the same sums, two passes fewer).
        """
        flat, self._order = flat_view(volume)
        if self._first is None:
            self._shape = volume.shape
            work = flat.dtype if flat.dtype.kind == "f" else np.dtype(np.float32)
            self._first = flat.astype(work)
            self._sum = np.zeros(flat.size, np.float64)
            self._squares = np.zeros(flat.size, np.float64)
            self._shifted = np.empty(min(flat.size, BLOCK), work)
            self._recent_sum = np.empty(flat.size, work)
            self._recent_squares = np.empty(flat.size, work)
            self._unfolded = 0
            return
        add = self._start_block if self._unfolded == 0 else self._add_block
        folds = self._unfolded == FOLD_EVERY - 1
        for start in range(0, flat.size, BLOCK):
            block = slice(start, start + BLOCK)
            add(flat, block)
            if folds:
                self._fold_block(block)
        self._unfolded = 0 if folds else self._unfolded + 1

    def _deviations(self, flat: np.ndarray, block: slice, out: np.ndarray) -> np.ndarray:
        """The block's values minus the first volume's, in ``out`` (the work type)."""
        values = flat[block]
        if values.dtype == out.dtype:
            return np.subtract(values, self._first[block], out=out)
        np.copyto(out, values, casting="safe")
        return np.subtract(out, self._first[block], out=out)

    def _start_block(self, flat: np.ndarray, block: slice) -> None:
        """The first volume of the float32 sums: its deviations and their squares are the sums."""
        recent_sum = self._deviations(flat, block, self._recent_sum[block])
        np.square(recent_sum, out=self._recent_squares[block])

    def _add_block(self, flat: np.ndarray, block: slice) -> None:
        recent_sum, recent_squares = self._recent_sum[block], self._recent_squares[block]
        shifted = self._deviations(flat, block, self._shifted[:recent_sum.size])
        recent_sum += shifted
        np.square(shifted, out=shifted)
        recent_squares += shifted

    def _fold_block(self, block: slice) -> None:
        self._sum[block] += self._recent_sum[block]
        self._squares[block] += self._recent_squares[block]

    def _fold(self) -> None:
        """The float32 sums not folded yet, at the end of the series (the next volume starts them again)."""
        if self._first is None or not self._unfolded:
            return
        self._fold_block(slice(None))
        self._unfolded = 0

    def _volume(self, flat: np.ndarray) -> np.ndarray:
        return flat.astype(np.float32).reshape(self._shape, order=self._order)

    def temporal_mean(self) -> np.ndarray:
        self._fold()
        return self._volume(self._first + self._sum / self.n_volumes)

    def temporal_sd(self) -> np.ndarray:
        """Population SD (numpy's ``std`` default, ddof=0)."""
        self._fold()
        mean_shift = self._sum / self.n_volumes
        variance = self._squares / self.n_volumes - mean_shift * mean_shift
        return self._volume(np.sqrt(np.maximum(variance, 0)))


def tsnr_map(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Temporal SNR, mean / SD; 0 where the SD is 0 (constant voxels, background) or the mean is NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        tsnr = np.where(sd > 0, mean / sd, 0).astype(np.float32)
    tsnr[~np.isfinite(tsnr)] = 0
    return tsnr


def series_numbers(mean: np.ndarray, tsnr: np.ndarray) -> dict:
    """The series' own numbers for its page: median tSNR and temporal mean over voxels with signal."""
    signal = np.isfinite(mean) & (mean != 0) & (tsnr != 0)
    if not np.any(signal):
        return {"tsnr_median": None, "tmean_median": None}
    return {"tsnr_median": float(np.median(tsnr[signal])), "tmean_median": float(np.median(mean[signal]))}
