"""Where bytes live. Every byte of an upload or a thumbnail goes through here.

A backend is a small object with the methods of ``Storage``; ``LocalStorage``
keeps files under one folder. Keys are made here (``new_key``/``artifact_key``),
never from a client's file name, so no user input ever becomes a path. A
missing key raises ``FileNotFoundError(key)`` on every backend.

Incoming bytes are written once: ``staging_file`` gives a file that hashes and
counts while it is written (the web tier hands it to Werkzeug's form parser),
and ``commit`` moves the finished file under its key.
"""

import hashlib
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK_SIZE = 1024 * 1024
KEY_PATTERN = re.compile(r"^[a-z0-9_]+(/[A-Za-z0-9_.-]+)+$")


class TooLarge(Exception):
    """More bytes arrived than the limit allows."""

    def __init__(self, limit):
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


def new_key(kind):
    """A fresh, unguessable key for an object of this kind (``originals``, ``partials``)."""
    digest = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
    return f"{kind}/{digest[:2]}/{digest[2:4]}/{digest}"


def artifact_key(image_id, kind, extension="png"):
    """The deterministic key of an image's derived file, so a re-run replaces it instead of adding one."""
    return f"artifacts/{int(image_id)}/{kind}.{extension}"


def checked_key(key):
    """The key itself, once it is known to be one of ours (no ``..``, no absolute path)."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key) or ".." in key:
        raise ValueError(f"not a storage key: {key!r}")
    return key


class StagingFile:
    """A temporary file that hashes and counts what is written, and refuses bytes past a limit."""

    def __init__(self, folder, max_bytes=None):
        self._file = tempfile.NamedTemporaryFile(dir=folder, prefix="incoming-", delete=True)
        self._hash = hashlib.sha256()
        self.size = 0
        self.max_bytes = max_bytes
        self.name = self._file.name

    def write(self, data):
        self.size += len(data)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise TooLarge(self.max_bytes)
        self._hash.update(data)
        return self._file.write(data)

    @property
    def sha256(self):
        return self._hash.hexdigest()

    def read(self, *args):
        return self._file.read(*args)

    def seek(self, *args):
        return self._file.seek(*args)

    def tell(self):
        return self._file.tell()

    def flush(self):
        self._file.flush()

    def close(self):
        self._file.close()

    @property
    def closed(self):
        return self._file.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def copy_stream(source, target, chunk_size=CHUNK_SIZE):
    """Copy a readable stream into a writable one in fixed chunks; memory stays flat whatever the size."""
    while True:
        chunk = source.read(chunk_size)
        if not chunk:
            return
        target.write(chunk)


class Storage(Protocol):
    def staging_file(self, max_bytes=None) -> StagingFile: ...
    def commit(self, staged: StagingFile, key: str) -> StoredObject: ...
    def put_stream(self, key: str, stream: BinaryIO, max_bytes=None) -> StoredObject: ...
    def put_bytes(self, key: str, data: bytes) -> StoredObject: ...
    def open(self, key: str) -> BinaryIO: ...
    def local_path(self, key: str) -> Iterator[Path]: ...
    def size(self, key: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def append(self, key: str, stream: BinaryIO, max_bytes=None) -> int: ...
    def promote(self, partial_key: str, key: str) -> StoredObject: ...


class LocalStorage:
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

    def staging_file(self, max_bytes=None):
        return StagingFile(self.staging, max_bytes)

    def commit(self, staged, key):
        staged.flush()
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(staged.name, target)
        staged.close()
        return StoredObject(key, staged.size, staged.sha256)

    def put_stream(self, key, stream, max_bytes=None):
        staged = self.staging_file(max_bytes)
        try:
            copy_stream(stream, staged)
            return self.commit(staged, key)
        finally:
            staged.close()

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
        added = 0
        with open(path, "ab") as target:
            try:
                while True:
                    chunk = stream.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    if max_bytes is not None and added + len(chunk) > max_bytes:
                        target.write(chunk[: max_bytes - added])
                        added = max_bytes
                        raise TooLarge(max_bytes)
                    target.write(chunk)
                    added += len(chunk)
            finally:
                target.flush()
                os.fsync(target.fileno())
        return added

    def promote(self, partial_key, key):
        """Turn a finished partial object into a stored one, hashing it on the way."""
        source = self.path_for(partial_key)
        digest = hashlib.sha256()
        with open(source, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
                digest.update(chunk)
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        return StoredObject(key, target.stat().st_size, digest.hexdigest())

    def wipe(self):
        """Remove every object; for tests only."""
        shutil.rmtree(self.root, ignore_errors=True)


BACKENDS = {"local": LocalStorage}


def storage_from_config(config):
    """The backend named by ``STORAGE_BACKEND``, built from its own settings."""
    name = config.get("STORAGE_BACKEND", "local")
    try:
        backend = BACKENDS[name]
    except KeyError:
        raise ValueError(f"STORAGE_BACKEND={name!r}: expected one of {', '.join(sorted(BACKENDS))}") from None
    return backend.from_config(config)
