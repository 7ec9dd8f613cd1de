"""Files under one folder on the machine (or a volume shared by web and workers)."""

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .base import StagedWrites, StoredObject, checked_key, copy_limited, file_sha256
from .staging import StagingFile, append_staged_file
from .writebehind import WriteBehind


def sync_folder(folder):
    """The folder's entries onto the disk (a new name is durable only once its folder is)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage(StagedWrites):
    """Files under one folder, written atomically (a temporary file, then a rename)."""

    def __init__(self, root):
        self.root = Path(root).resolve()
        self.staging = self.root / "staging"
        self.staging.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_config(cls, config):
        return cls(config["STORAGE_DIR"])

    def path_for(self, key):
        """The filesystem path of a key; only this backend builds paths under the root."""
        return self.root / checked_key(key)

    def commit(self, staged, key):
        """Link the staged bytes under the key once they and the new name are on the disk.

        The caller acknowledges the upload (and commits its row) right after: a crash then must not
        leave a row whose file is empty or missing.
        """
        staged.sync()
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(staged.name, target)
        sync_folder(target.parent)
        staged.close()
        return StoredObject(key, staged.size, staged.sha256)

    def put_bytes(self, key, data):
        """Write a small object whole, replacing any earlier one under the key."""
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.staging, prefix="bytes-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
        return StoredObject(key, len(data), hashlib.sha256(data).hexdigest())

    def open(self, key):
        try:
            return open(self.path_for(key), "rb")
        except FileNotFoundError:
            raise FileNotFoundError(key) from None

    @contextmanager
    def local_path(self, key):
        path = self.path_for(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        yield path

    def size(self, key):
        try:
            return self.path_for(key).stat().st_size
        except FileNotFoundError:
            raise FileNotFoundError(key) from None

    def exists(self, key):
        return self.path_for(key).is_file()

    def delete(self, key):
        self.path_for(key).unlink(missing_ok=True)

    def append(self, key, stream, max_bytes=None):
        """Append a stream to a partial object, flushing to disk; returns how many bytes were added.

        Bytes past ``max_bytes`` are refused with ``TooLarge`` after what fitted was kept,
        so the offset a client sees is always what is durably on disk.
        """
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(stream, StagingFile):
            return append_staged_file(path, stream, max_bytes)
        with open(path, "ab") as target, WriteBehind(target) as behind:
            try:
                return copy_limited(stream, behind, max_bytes)
            finally:
                try:
                    behind.wait()
                finally:
                    target.flush()
                    os.fsync(target.fileno())

    def promote(self, partial_key, key, known_sha256=None):
        """Turn a finished partial object into a stored one, hashing it on the way.

        ``known_sha256``: the digest of exactly these bytes, when the caller hashed them as they
        arrived (a tus upload sent in one request); the file is then not read again.
        """
        source = self.path_for(partial_key)
        target = self.path_for(key)
        if not source.is_file():
            raise FileNotFoundError(partial_key)
        sha256 = known_sha256 or file_sha256(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        return StoredObject(key, target.stat().st_size, sha256)

    def unpromote(self, key, partial_key):
        """Undo ``promote`` when the image it was for could not be saved: the bytes are the partial again."""
        os.replace(self.path_for(key), self.path_for(partial_key))
