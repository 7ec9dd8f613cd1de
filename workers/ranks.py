"""Exact order statistics and histogram counts of a map's values, without sorting them.

The statistics of every upload need seven percentiles and a 50-bin histogram
of a few hundred thousand to a few million values. Sorting them all was the
largest single step of processing a 2 mm map (12–28 ms for 300,000 values on
the shared machine); ``Ranks`` gives the same numbers from one pass and a
count: a value's bucket ``floor((v - low) * scale)`` never decreases as ``v``
grows (subtraction and multiplication by a positive number are monotonic in
floating point), so the counts per bucket tell which bucket holds a wanted
rank, or where a histogram edge falls, and only the values of those few
buckets are looked at again.
"""

from __future__ import annotations

import numpy as np

BUCKETS = 4096  # a bucket number fits two bytes
BLOCK = 1 << 20  # values per block of the passes that make temporaries


class Ranks:
    """A map's values counted per bucket once (one pass and one count), then asked for ranks and counts.

    Values are finite; ``low`` and ``high`` are their extremes.
    """

    def __init__(self, values: np.ndarray, low: float, high: float):
        self.values = values
        self.sorted = None
        with np.errstate(over="ignore", divide="ignore"):
            scale = BUCKETS / (float(high) - float(low)) if high > low else np.inf
            # float32 arithmetic for float32 values, three times faster than float64, unless the range overflows
            narrow = values.dtype == np.float32 and np.isfinite(np.float32(high) - np.float32(low)) \
                and np.isfinite(np.float32(scale))
        if np.isfinite(scale) and scale > 0 and values.size > BUCKETS:
            self.low, self.high, self.scale = float(low), float(high), scale
            self.dtype = np.float32 if narrow else np.float64
            self.bucket = self._buckets_of(values)
            self.ends = np.cumsum(self._counts())
        else:  # few values, or one: sorting them is cheap
            self.sorted = np.sort(values)

    def at(self, ranks) -> np.ndarray:
        """``np.sort(values)[ranks]`` (ranks within range)."""
        return self.look_up(ranks, np.empty(0, self.values.dtype))[0]

    def below(self, limits: np.ndarray) -> np.ndarray:
        """How many values are smaller than each limit (limits in the values' dtype): ``np.searchsorted``'s
        "left" side over the sorted values."""
        return self.look_up([], limits)[1]

    def look_up(self, ranks, limits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``at(ranks)`` and ``below(limits)`` together, from one more pass over the values.

        Buckets are in value order, so the values of several buckets taken together are still grouped by
        bucket once ordered: the ranks' buckets are partitioned once at every wanted position, the
        limits' buckets sorted once and searched (no Python loop per bucket: there are about 60).
        """
        ranks = np.asarray(ranks, dtype=np.int64)
        if self.sorted is not None:
            return self.sorted[ranks], np.searchsorted(self.sorted, limits, side="left")
        holding = np.searchsorted(self.ends, ranks, side="right")
        limit_holding = self._buckets_of(np.clip(limits, self.low, self.high))  # the same buckets, no overflow
        starts = self.ends - np.diff(self.ends, prepend=0)  # values in the buckets below each bucket
        for_ranks, for_limits = self._values_of(holding, limit_holding)
        found = np.empty(ranks.size, self.values.dtype)
        if ranks.size:
            at = self._taken_before(holding)[holding] + ranks - starts[holding]
            found = np.partition(for_ranks, np.unique(at))[at]
        for_limits.sort()
        counts = starts[limit_holding] - self._taken_before(limit_holding)[limit_holding] \
            + np.searchsorted(for_limits, limits, side="left")
        return found, counts

    def _buckets_of(self, values: np.ndarray) -> np.ndarray:
        """Each value's bucket: never decreasing with the value, whatever the rounding.

        Made block by block, and two bytes a value past one block: a whole-volume float temporary and
        eight-byte indices held six times the values' own size for a large 3D volume.
        """
        flat = values.reshape(-1)
        bucket = np.empty(flat.size, np.intp if flat.size <= BLOCK else np.uint16)
        low, scale = self.dtype(self.low), self.dtype(self.scale)
        for start in range(0, flat.size, BLOCK):
            scaled = np.subtract(flat[start:start + BLOCK], low, dtype=self.dtype)
            scaled *= scale
            np.clip(scaled, 0, BUCKETS - 1, out=scaled)
            bucket[start:start + BLOCK] = scaled  # truncated toward zero, as ``astype`` does
        return bucket

    def _block(self, start: int) -> np.ndarray:
        """One block of the buckets as eight-byte indices: numpy indexes and counts with those three times faster."""
        return self.bucket[start:start + BLOCK].astype(np.intp, copy=False)

    def _counts(self) -> np.ndarray:
        """Values per bucket, counted block by block."""
        counts = np.zeros(BUCKETS, np.int64)
        for start in range(0, self.bucket.size, BLOCK):
            counts += np.bincount(self._block(start), minlength=BUCKETS)
        return counts

    def _values_of(self, *bucket_sets: np.ndarray) -> list[np.ndarray]:
        """The values lying in each set of buckets (in the values' order), from one pass over the values."""
        code = np.zeros(BUCKETS, np.uint8)
        for n, buckets in enumerate(bucket_sets):
            code[buckets] |= 1 << n
        picked = np.concatenate([start + np.flatnonzero(code[self._block(start)] != 0)
                                 for start in range(0, self.bucket.size, BLOCK)])  # a few thousand positions
        values, codes = self.values.reshape(-1)[picked], code[self.bucket[picked]]
        return [values[(codes & (1 << n)) != 0] for n in range(len(bucket_sets))]

    def _taken_before(self, buckets: np.ndarray) -> np.ndarray:
        """Per bucket, how many values of ``buckets`` lie in the buckets below it."""
        counts = np.zeros(BUCKETS, np.int64)
        held = np.unique(buckets)
        counts[held] = np.diff(self.ends, prepend=0)[held]
        return np.cumsum(counts) - counts


def histogram_counts(below: np.ndarray, size: int) -> np.ndarray:
    """Values per bin from how many values lie below each inner edge (``Ranks.below``), ``size`` values in all:
    ``edges[k] <= v < edges[k + 1]``, the last bin closed, as ``np.histogram``."""
    return np.diff(np.concatenate([[0], below, [size]]))
