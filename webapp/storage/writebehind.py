"""Appended bytes written to the disk on threads while more arrive, so the request thread only reads (0023)."""

import os
from concurrent.futures import ThreadPoolExecutor

from .handoff import Handoff

#: ``posix_fadvise`` where the platform has it (Linux does; elsewhere synced bytes simply stay cached).
DROP_FROM_CACHE = getattr(os, "posix_fadvise", None)


class WriteBehind:
    """A writable wrapper around an open file: chunks are written on a thread, ``fdatasync`` started on another.

    Copying a chunk into the page cache is the largest cost of a tus PATCH on the web worker's CPU
    (``docs/performance.md``, decision 0023); on the request thread it came
    on top of reading the socket. Here it runs on the second core while the next chunk arrives, as
    a multipart upload's staging file does. At most ``IN_FLIGHT`` chunks wait, so memory stays flat;
    a chunk is an immutable ``bytes``, handed over without a copy. After a write fails no later chunk
    is written (the file never gets a gap), and the failure is raised by the next ``write`` or by
    ``wait``. Every ``EVERY`` bytes written, ``fdatasync`` starts on its own thread (at most one at
    a time), so the fsync that acknowledges a long append finds little left to write, and the
    bytes it synced leave the page cache.
    """

    EVERY = 32 * 1024 * 1024
    IN_FLIGHT = 4

    def __init__(self, target):
        self.target, self.fd = target, target.fileno()
        self.pending, self.flushing, self.failed = 0, None, False
        self.written_to = self.dropped_to = os.fstat(self.fd).st_size
        self.writer = Handoff("write-behind", self.IN_FLIGHT)
        self.syncer = None

    def write(self, chunk):
        self.writer.submit(self._write, chunk)

    def _write(self, chunk):
        """On the writer thread: the chunk into the file, unless an earlier one failed."""
        if self.failed:
            return
        try:
            self.target.write(chunk)
        except BaseException:
            self.failed = True
            raise
        self._count(len(chunk))

    def _count(self, written):
        self.pending += written
        self.written_to += written
        if self.pending < self.EVERY or (self.flushing is not None and not self.flushing.done()):
            return
        if self.syncer is None:
            self.syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-behind-sync")
        self.pending, self.flushing = 0, self.syncer.submit(self._sync_and_drop, self.written_to)

    def _sync_and_drop(self, end):
        """On the sync thread: the bytes up to ``end`` onto the disk, then out of the page cache.

        The next chunks are then copied into pages just freed, which is cheap, instead of pages the
        kernel takes from a full page cache, which made that copy most of a PATCH's CPU
        (``docs/performance.md``, decision 0023).
        """
        os.fdatasync(self.fd)
        if DROP_FROM_CACHE is not None:
            DROP_FROM_CACHE(self.fd, self.dropped_to, end - self.dropped_to, os.POSIX_FADV_DONTNEED)
        self.dropped_to = end

    def wait(self):
        """Return once every chunk handed over is in the file and no fdatasync runs; raise what failed."""
        self.writer.settle()
        if self.flushing is not None:
            self.flushing.result()
            self.flushing = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.writer.close()
        if self.syncer is not None:
            self.syncer.shutdown(wait=True)
