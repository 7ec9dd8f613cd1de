"""The storage contract and what every backend shares: keys, limits, and writing through a staging file.

Keys are made here (``new_key``/``artifact_key``), never from a client's file name, so no user input
ever becomes a path. A missing key raises ``FileNotFoundError(key)`` on every backend.
"""

import hashlib
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from .staging import CHUNK_SIZE, StagingFile, TooLarge

KEY_PATTERN = re.compile(r"^[a-z0-9_]+(/[A-Za-z0-9_.-]+)+$")

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


def file_sha256(path):
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def copy_stream(source, target, chunk_size=CHUNK_SIZE):
    """Copy a readable stream into a writable one in fixed chunks; memory stays flat whatever the size."""
    while True:
        chunk = source.read(chunk_size)
        if not chunk:
            return
        target.write(chunk)


def copy_limited(source, target, max_bytes):
    """Copy a stream, keeping the bytes that fit under ``max_bytes`` and raising ``TooLarge`` for the rest."""
    added = 0
    while True:
        chunk = source.read(CHUNK_SIZE)
        if not chunk:
            return added
        if max_bytes is not None and added + len(chunk) > max_bytes:
            target.write(chunk[: max_bytes - added])
            raise TooLarge(max_bytes)
        target.write(chunk)
        added += len(chunk)



class Storage(Protocol):
    def staging_file(self, max_bytes=None, hashed=True) -> StagingFile: ...
    def commit(self, staged: StagingFile, key: str) -> StoredObject: ...
    def put_stream(self, key: str, stream: BinaryIO, max_bytes=None) -> StoredObject: ...
    def put_bytes(self, key: str, data: bytes) -> StoredObject: ...
    def open(self, key: str) -> BinaryIO: ...
    def local_path(self, key: str) -> Iterator[Path]: ...
    def size(self, key: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def append(self, key: str, stream: BinaryIO, max_bytes=None) -> int: ...
    def promote(self, partial_key: str, key: str, known_sha256: str | None = None) -> StoredObject: ...
    def unpromote(self, key: str, partial_key: str) -> None: ...


class StagedWrites:
    """Staging files, ``put_stream`` and the staging folder's upkeep, for a backend with ``staging`` and ``commit``."""

    staging: Path

    def staging_file(self, max_bytes=None, hashed=True):
        """A staging file; ``hashed=False`` skips the sha256 for bytes that are hashed later (tus appends)."""
        return StagingFile(self.staging, max_bytes, hashed)

    def remove_stale_staging_files(self, older_than_seconds):
        """Delete staging files untouched for this long: left by a process that died mid-upload.

        A file being written has a fresh modification time, so only leftovers match. Returns how
        many were removed.
        """
        cutoff = time.time() - older_than_seconds
        removed = 0
        for path in self.staging.iterdir():
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def put_stream(self, key, stream, max_bytes=None):
        staged = self.staging_file(max_bytes)
        try:
            copy_stream(stream, staged)
            return self.commit(staged, key)
        finally:
            staged.close()

