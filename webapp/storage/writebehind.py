"""Appended bytes written to the disk while more arrive, so the acknowledging fsync finds little left (0023)."""

import os
from concurrent.futures import ThreadPoolExecutor


class WriteBehind:
    """A writable wrapper around an open file that starts ``fdatasync`` on a thread every ``EVERY`` bytes.

    The fsync that acknowledges a long append then finds little left to write, instead of
    waiting for the whole body at the end. At most one flush runs at a time.
    """

    EVERY = 32 * 1024 * 1024

    def __init__(self, target):
        self.target, self.fd = target, target.fileno()
        self.pending, self.flushing, self.pool = 0, None, None

    def write(self, chunk):
        self.target.write(chunk)
        self.wrote(len(chunk))

    def wrote(self, count):
        self.pending += count
        if self.pending < self.EVERY or (self.flushing is not None and not self.flushing.done()):
            return
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-behind")
        self.pending, self.flushing = 0, self.pool.submit(os.fdatasync, self.fd)

    def wait(self):
        if self.flushing is not None:
            self.flushing.result()
            self.flushing = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.shutdown(wait=True)
