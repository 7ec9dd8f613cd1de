"""The similarity index: every stored vector in three append-only files that all processes of a host share.

``rows.i64``      (feed id, image id) per row; written last, so it says how many rows are complete
``vectors.f16``   the full vector per row (float16, mask length), read row by row for the exact pass
``reduced.f32``   the first pass's vector per row (float32, ``workers.similarity.reduced``), memory-mapped

The files are a cache: the truth is the database's ``similarity_vector`` rows (the change feed, ids
only ever growing) and the vectors in storage. ``catch_up`` appends what the feed holds past the last
id in the files, under an exclusive ``flock``, so one process writes while the others read: a reader
only sees rows whose ``rows.i64`` entry is written, and those rows' vectors were written before it.
A missing folder is rebuilt the same way, from the first feed row. An image that is reprocessed gets
a new row; its old row stops being *live*. Rows of deleted or hidden images stay until a rebuild
(``flask similarity rebuild``): the caller filters every answer through the database, which is what
makes a deletion or a collection made private take effect at once.

Nothing here imports Flask or the database: the feed and storage are callables, so the benchmark
drives the same code with synthetic vectors.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from workers import similarity

FORMAT_VERSION = 1
ROW_FIELDS = 2
#: BLAS on one thread for a query: its products are small, and on a few busy cores the threads of a
#: multi-threaded BLAS wait on each other (a query of 200 candidates ran 1.3-2x slower with them).
BLAS_THREADS = ThreadpoolController()


@dataclass(frozen=True)
class FeedRow:
    """One row of the change feed: which image, and where its vector is stored."""

    feed_id: int
    image_id: int
    storage_key: str


@dataclass(frozen=True)
class Snapshot:
    """What one process has mapped, replaced whole on refresh, so a thread's query never sees half of a change."""

    rows: np.ndarray
    reduced: np.ndarray
    live: np.ndarray
    row_of_image: dict[int, int]
    inode: int = 0


class VectorIndex:
    """One process's view of the index files in ``folder`` (see the module's docstring)."""

    def __init__(self, folder, *, n_values: int | None = None):
        self.n_values = n_values or similarity.n_mask_voxels()
        self.n_reduced = similarity.reduced_dimensions()
        self.folder = Path(folder) / f"v{FORMAT_VERSION}-{self.n_values}x{self.n_reduced}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._view = self._empty_view()
        self._refreshing = threading.Lock()

    def _empty_view(self) -> Snapshot:
        return Snapshot(np.zeros((0, ROW_FIELDS), np.int64), np.zeros((0, self.n_reduced), np.float32),
                        np.zeros(0, bool), {})

    # -- files -------------------------------------------------------------------------------

    def path(self, name: str) -> Path:
        return self.folder / name

    @contextmanager
    def _locked(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.path("lock"), "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _complete_rows_on_disk(self) -> int:
        return self._rows_file()[0]

    def _rows_file(self) -> tuple[int, int]:
        """(complete rows, inode) of ``rows.i64``: a rebuild makes a new file, so a new inode."""
        try:
            found = os.stat(self.path("rows.i64"))
        except FileNotFoundError:
            return 0, 0
        return found.st_size // (8 * ROW_FIELDS), found.st_ino

    # -- reading -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._view.rows.shape[0]

    @property
    def last_feed_id(self) -> int:
        rows = self._view.rows
        return int(rows[-1, 0]) if rows.shape[0] else 0

    @property
    def n_live(self) -> int:
        return len(self._view.row_of_image)

    def refresh(self) -> bool:
        """Map rows other processes appended since the last look (one ``stat`` when there are none)."""
        if self._rows_file() == (len(self), self._view.inode):
            return False
        with self._refreshing:
            (n, inode), view = self._rows_file(), self._view
            if (n, inode) == (view.rows.shape[0], view.inode):
                return False
            if n < view.rows.shape[0] or inode != view.inode:  # removed or rebuilt by another process
                view = self._empty_view()
            self._view = self._extended(view, n, inode) if n else view
        return True

    def _extended(self, view: Snapshot, n: int, inode: int) -> Snapshot:
        start = view.rows.shape[0]
        rows = np.fromfile(self.path("rows.i64"), np.int64, count=n * ROW_FIELDS).reshape(n, ROW_FIELDS)
        reduced = np.memmap(self.path("reduced.f32"), np.float32, mode="r", shape=(n, self.n_reduced))
        live = np.zeros(n, bool)
        live[:start] = view.live
        row_of_image = dict(view.row_of_image)
        for row in range(start, n):
            image_id = int(rows[row, 1])
            earlier = row_of_image.pop(image_id, None)
            if earlier is not None:
                live[earlier] = False
            if image_id > 0:
                row_of_image[image_id] = row
                live[row] = True
        return Snapshot(rows, reduced, live, row_of_image, inode)

    def image_ids(self, rows: np.ndarray) -> np.ndarray:
        return self._view.rows[rows, 1]

    def row_of(self, image_id: int) -> int | None:
        return self._view.row_of_image.get(int(image_id))

    def full_rows(self, rows: Iterable[int]) -> np.ndarray:
        """The full vectors of these rows (float16), read from the file, not mapped: memory stays small."""
        rows = np.asarray(list(rows), np.int64)
        out = np.empty((rows.size, self.n_values), np.float16)
        size = self.n_values * 2
        fd = os.open(self.path("vectors.f16"), os.O_RDONLY)
        try:
            for i, row in enumerate(rows):
                out[i] = np.frombuffer(os.pread(fd, size, int(row) * size), np.float16)
        finally:
            os.close(fd)
        return out

    def vector_of(self, image_id: int) -> np.ndarray | None:
        row = self.row_of(image_id)
        return None if row is None else self.full_rows([row])[0]

    def ranked(self, query: np.ndarray, pool: int, *, leave_out: int | None = None) -> similarity.Ranked:
        """The ``pool`` live rows the first pass picks, ranked by their exact r with ``query`` (row indices)."""
        return self._ranked(self._view, query, pool, leave_out)

    def ranked_images(self, query: np.ndarray, pool: int, *, leave_out: int | None = None) -> similarity.Ranked:
        """As ``ranked``, with image ids in place of row indices, both read from the same snapshot."""
        view = self._view
        ranked = self._ranked(view, query, pool, leave_out)
        return similarity.Ranked(view.rows[ranked.rows, 1], ranked.r, view.rows[ranked.undefined_rows, 1],
                                 ranked.undefined_common)

    def _ranked(self, view: Snapshot, query, pool, leave_out) -> similarity.Ranked:
        with BLAS_THREADS.limit(limits=1, user_api="blas"):
            return self._ranked_on_one_thread(view, query, pool, leave_out)

    def _ranked_on_one_thread(self, view: Snapshot, query, pool, leave_out) -> similarity.Ranked:
        usable = view.live.copy()
        left_out = view.row_of_image.get(int(leave_out)) if leave_out is not None else None
        if left_out is not None:
            usable[left_out] = False
        if not usable.any():
            empty = np.zeros(0, np.int64)
            return similarity.Ranked(empty, np.zeros(0), empty, empty)
        picked = similarity.candidate_rows(similarity.reduced(query), view.reduced, pool, usable)
        picked.sort()
        return similarity.ranked_exactly(query, picked, self.full_rows(picked))

    # -- writing -----------------------------------------------------------------------------

    def catch_up(self, feed_after: Callable[[int], list[FeedRow]], read: Callable[[str], bytes | None]) -> int:
        """Append every feed row past the files' last one; the number appended.

        ``feed_after(last_id)`` gives the next rows in id order (a batch; called until empty);
        ``read(key)`` the stored bytes, or None when they are gone (the row is then kept as a
        placeholder, image 0, so it is not fetched again).
        """
        added = 0
        with self._locked():
            self._truncate_torn_writes()
            self.refresh()
            while batch := feed_after(self.last_feed_id):
                vectors = np.stack([self._vector_or_missing(read(row.storage_key)) for row in batch])
                found = ~np.isnan(vectors).all(axis=1)
                ids = np.array([(row.feed_id, row.image_id) for row in batch], np.int64)
                ids[:, 1] = np.where(found, ids[:, 1], 0)
                self._append(vectors, ids)
                added += len(batch)
                self.refresh()
        return added

    def append(self, feed_id: int, image_id: int, vector: np.ndarray) -> None:
        """Append one vector directly (the benchmark, and tests); feed ids must grow."""
        with self._locked():
            self._truncate_torn_writes()
            self._append(np.asarray(vector, np.float16)[None, :], np.array([[feed_id, image_id]], np.int64))
            self.refresh()

    def append_many(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        with self._locked():
            self._truncate_torn_writes()
            self._append(np.asarray(vectors, np.float16), np.asarray(ids, np.int64))
            self.refresh()

    def _vector_or_missing(self, data: bytes | None) -> np.ndarray:
        if data is not None:
            try:
                return similarity.vector_from_bytes(data)
            except ValueError:
                pass
        return np.full(self.n_values, np.nan, np.float16)

    def _append(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        reduced = similarity.reduced(vectors).astype(np.float32)
        for name, block in (("vectors.f16", vectors), ("reduced.f32", reduced), ("rows.i64", ids)):
            with open(self.path(name), "ab") as handle:
                handle.write(np.ascontiguousarray(block).tobytes())

    def _truncate_torn_writes(self) -> None:
        """A writer that died mid-append leaves vectors past the last complete row: cut them off."""
        n = self._complete_rows_on_disk()
        for name, row_bytes in (("vectors.f16", self.n_values * 2), ("reduced.f32", self.n_reduced * 4)):
            path = self.path(name)
            if path.exists() and path.stat().st_size != n * row_bytes:
                os.truncate(path, n * row_bytes)

    def wipe(self) -> None:
        """Remove the files (a rebuild follows at the next catch-up)."""
        with self._locked():
            for name in ("rows.i64", "vectors.f16", "reduced.f32"):
                self.path(name).unlink(missing_ok=True)
            self.refresh()
