"""Staging files: incoming bytes are written once, hashed and counted as they arrive, then committed under a key."""

import hashlib
import os
import tempfile

from .handoff import Handoff

#: ``posix_fadvise`` where the platform has it (Linux does; elsewhere the commit's fsync writes everything).
DROP_FROM_CACHE = getattr(os, "posix_fadvise", None)

CHUNK_SIZE = 1024 * 1024


class TooLarge(Exception):
    """More bytes arrived than the limit allows."""

    def __init__(self, limit):
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


class StagingFile:
    """A temporary file that hashes and counts what is written, and refuses bytes past a limit.

    The limit is checked as bytes arrive; hashing (sha256) and writing happen a block behind, on
    a thread of the file's own. Both release the GIL, so a large upload is hashed and written on
    the second core while the request thread reads and parses the next bytes (figure 3 of
    ``docs/performance.md``). At most ``IN_FLIGHT`` blocks wait, so memory stays flat. Every
    method that looks at the file's content waits for them first, and raises what they raised.
    """

    BLOCK = 1024 * 1024
    IN_FLIGHT = 4
    WRITEBACK_EVERY = 32 * 1024 * 1024

    def __init__(self, folder, max_bytes=None, hashed=True):
        self._file = tempfile.NamedTemporaryFile(dir=folder, prefix="incoming-", delete=True)
        self._hash = hashlib.sha256() if hashed else None
        self._pieces, self._pending = [], 0
        self._writer = Handoff("staging", self.IN_FLIGHT)
        self._stored = self._written_back = 0
        self.size = 0
        self.max_bytes = max_bytes
        self.name = self._file.name

    def write(self, data):
        self.size += len(data)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise TooLarge(self.max_bytes)
        self._pieces.append(data if type(data) is bytes else bytes(data))
        self._pending += len(data)
        if self._pending >= self.BLOCK:
            self._writer.submit(self._store, self._taken_block())
        return len(data)

    def _taken_block(self):
        """The pieces written since the last block, joined (one copy; none for a single large piece)."""
        block, self._pieces, self._pending = b"".join(self._pieces), [], 0
        return block

    def _store(self, block):
        if self._hash is not None:
            self._hash.update(block)
        self._file.write(block)
        self._stored += len(block)
        if self._stored - self._written_back >= self.WRITEBACK_EVERY:
            self._start_writeback()

    def _start_writeback(self):
        """Start writing what is stored to the disk, without waiting for it.

        The commit's ``fdatasync`` (the upload is acknowledged only once its bytes are on the disk) then
        waits for the last few blocks, not for the whole file. On Linux ``POSIX_FADV_DONTNEED`` starts the
        writeback of dirty pages and drops the clean ones, so a large upload also leaves the page cache.
        """
        if DROP_FROM_CACHE is None:
            return
        self._file.flush()
        DROP_FROM_CACHE(self._file.fileno(), 0, self._stored, os.POSIX_FADV_DONTNEED)
        self._written_back = self._stored

    def sync(self):
        """Every byte written so far onto the disk (before the file is committed under a key)."""
        self.flush()
        os.fdatasync(self._file.fileno())

    def _settle(self):
        """Wait until every byte written so far is hashed and in the file."""
        self._writer.settle()
        if self._pieces:
            self._store(self._taken_block())

    @property
    def hashed(self):
        return self._hash is not None

    @property
    def sha256(self):
        if self._hash is None:
            raise ValueError("this staging file was made with hashed=False")
        self._settle()
        return self._hash.hexdigest()

    def fileno(self):
        self._settle()
        return self._file.fileno()

    def read(self, *args):
        self._settle()
        return self._file.read(*args)

    def seek(self, *args):
        self._settle()
        return self._file.seek(*args)

    def tell(self):
        self._settle()
        return self._file.tell()

    def flush(self):
        self._settle()
        self._file.flush()

    def close(self):
        """Close without raising for blocks that failed: the file is being given up anyway."""
        self._writer.close()
        self._file.close()

    @property
    def closed(self):
        return self._file.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def append_staged_file(path, staged, max_bytes=None):
    """Append a staging file (from its current position) to ``path`` inside the kernel, then fsync.

    ``os.sendfile`` copies file to file without passing the bytes through Python;
    it refuses a target opened for appending, so the target is opened for writing
    at its end. As in ``append``, what fits ``max_bytes`` is kept before ``TooLarge``.
    """
    staged.flush()
    source = staged.fileno()
    start = staged.tell()
    available = max(os.fstat(source).st_size - start, 0)
    wanted = available if max_bytes is None else min(available, max_bytes)
    target = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    copied = 0
    try:
        os.lseek(target, 0, os.SEEK_END)
        while copied < wanted:
            sent = os.sendfile(target, source, start + copied, wanted - copied)
            if sent == 0:
                break
            copied += sent
    finally:
        os.fsync(target)
        os.close(target)
    if wanted < available:
        raise TooLarge(max_bytes)
    return copied
