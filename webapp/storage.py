"""Where bytes live. Every byte of an upload or a thumbnail goes through here.

A backend is a small object with the methods of ``Storage``; ``LocalStorage``
keeps files under one folder. Keys are made here (``new_key``/``artifact_key``),
never from a client's file name, so no user input ever becomes a path. A
missing key raises ``FileNotFoundError(key)`` on every backend.

Incoming bytes are written once: ``staging_file`` gives a file that hashes and
counts while it is written (the web tier hands it to Werkzeug's form parser),
and ``commit`` moves the finished file under its key.

``S3Storage`` keeps objects in an S3-compatible bucket so that web and worker
machines share them; see ``docs/decisions/0004-s3-storage.md``.
"""

import hashlib
import io
import os
import re
import secrets
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
    """A temporary file that hashes and counts what is written, and refuses bytes past a limit.

    The limit is checked as bytes arrive; hashing (sha256) and writing happen a block behind, on
    a thread of the file's own. Both release the GIL, so a large upload is hashed and written on
    the second core while the request thread reads and parses the next bytes (figure 3 of
    ``docs/performance.md``). At most ``IN_FLIGHT`` blocks wait, so memory stays flat. Every
    method that looks at the file's content waits for them first, and raises what they raised.
    """

    BLOCK = 1024 * 1024
    IN_FLIGHT = 4

    def __init__(self, folder, max_bytes=None, hashed=True):
        self._file = tempfile.NamedTemporaryFile(dir=folder, prefix="incoming-", delete=True)
        self._hash = hashlib.sha256() if hashed else None
        self._block = bytearray()
        self._writer = None
        self._in_flight = deque()
        self.size = 0
        self.max_bytes = max_bytes
        self.name = self._file.name

    def write(self, data):
        self.size += len(data)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise TooLarge(self.max_bytes)
        self._block += data
        if len(self._block) >= self.BLOCK:
            self._hand_over_block()
        return len(data)

    def _hand_over_block(self):
        block, self._block = bytes(self._block), bytearray()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="staging")
        if len(self._in_flight) >= self.IN_FLIGHT:
            self._in_flight.popleft().result()
        self._in_flight.append(self._writer.submit(self._store, block))

    def _store(self, block):
        if self._hash is not None:
            self._hash.update(block)
        self._file.write(block)

    def _settle(self):
        """Wait until every byte written so far is hashed and in the file."""
        while self._in_flight:
            self._in_flight.popleft().result()
        if self._block:
            block, self._block = bytes(self._block), bytearray()
            self._store(block)

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
        if self._writer is not None:
            self._writer.shutdown(wait=True, cancel_futures=True)
            self._writer = None
        self._in_flight.clear()
        self._file.close()

    @property
    def closed(self):
        return self._file.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


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


class StagedWrites:
    """``put_stream`` and the staging folder's upkeep, for a backend with ``staging``, ``staging_file``, ``commit``."""

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

    def staging_file(self, max_bytes=None, hashed=True):
        """A staging file; ``hashed=False`` skips the sha256 for bytes that are hashed later (tus appends)."""
        return StagingFile(self.staging, max_bytes, hashed)

    def commit(self, staged, key):
        staged.flush()
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(staged.name, target)
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

    def wipe(self):
        """Remove every object; for tests only."""
        shutil.rmtree(self.root, ignore_errors=True)


S3_PART_MARKER = ".part/"
S3_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def s3_not_found(exc):
    """Whether a botocore ``ClientError`` says the object is not there."""
    return str(exc.response.get("Error", {}).get("Code")) in S3_NOT_FOUND


@contextmanager
def s3_errors(key):
    """Translate S3 errors: a missing object is ``FileNotFoundError(key)``, any other failure an ``OSError``.

    Workers retry ``OSError`` with backoff, and the web tier treats it like a full disk,
    so a store that is briefly down looks the same on every backend.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        if s3_not_found(exc):
            raise FileNotFoundError(key) from None
        raise OSError(f"S3 error on {key}: {exc}") from exc
    except BotoCoreError as exc:
        raise OSError(f"S3 unavailable for {key}: {exc}") from exc


class SizedReader(io.RawIOBase):
    """A read-only, seekable file of a known ``size`` whose subclasses fetch bytes from where ``_position`` is.

    Shared by the S3 reader and the web tier's slices of stored objects, so ``send_file``
    and ``Range`` requests see one behaviour: a position past the end reads nothing.
    """

    size = 0
    _position = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._position

    def target(self, offset, whence):
        """The position a ``seek(offset, whence)`` asks for, never before the start."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        return max(base + offset, 0)


class S3Reader(SizedReader):
    """A seekable, read-only view of one S3 object that streams its body and re-asks for a range after a seek.

    ``send_file`` reads it in chunks (nothing is held in memory), and a ``Range``
    request seeks it, which costs one ranged GET instead of reading up to the offset.
    """

    def __init__(self, storage, key, first_response):
        super().__init__()
        self._storage = storage
        self.key = key
        self.size = int(first_response["ContentLength"])
        self.last_modified = first_response.get("LastModified")
        self._body = first_response["Body"]
        self._position = 0

    def seek(self, offset, whence=io.SEEK_SET):
        position = self.target(offset, whence)
        if position != self._position:
            self._drop_body()
            self._position = position
        return self._position

    def readinto(self, buffer):
        if self._position >= self.size:
            return 0
        if self._body is None:
            self._body = self._storage.ranged_body(self.key, self._position)
        with s3_errors(self.key):
            data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def _drop_body(self):
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self):
        self._drop_body()
        super().close()


class HashingReader:
    """Reads a sequence of streams as one, hashing and counting what passes (for composing partial objects)."""

    def __init__(self, streams):
        self._streams = iter(streams)
        self._current = None
        self._hash = hashlib.sha256()
        self.size = 0

    @property
    def sha256(self):
        return self._hash.hexdigest()

    def read(self, size=-1):
        """Up to ``size`` bytes (all that is left when negative); short only at the end, like a file."""
        pieces = []
        wanted = size if size is not None and size >= 0 else None
        got = 0
        while wanted is None or got < wanted:
            data = self._next_piece(CHUNK_SIZE if wanted is None else wanted - got)
            if not data:
                break
            pieces.append(data)
            got += len(data)
        result = b"".join(pieces)
        self._hash.update(result)
        self.size += len(result)
        return result

    def _next_piece(self, size):
        while True:
            if self._current is None:
                self._current = next(self._streams, None)
                if self._current is None:
                    return b""
            data = self._current.read(size)
            if data:
                return data
            self._current.close()
            self._current = None


class S3Storage(StagedWrites):
    """Objects in one S3-compatible bucket, shared by every web and worker machine.

    Bytes arriving at the web tier are staged in a local temporary folder (hashed
    while written) and uploaded on ``commit``; workers download an object to a
    temporary file for the duration of ``local_path``. A partial (tus) object is the
    object under its key (if any) followed by part objects ``<key>.part/<offset>``,
    one per ``append``, so any web machine can take the next chunk; ``size`` adds
    them up and ``promote`` streams them in order into the final object, hashing on
    the way, and then deletes them.
    """

    def __init__(self, bucket, *, staging_dir, endpoint_url=None, region=None, access_key_id=None,
                 secret_access_key=None):
        if not bucket:
            raise ValueError("STORAGE_BACKEND=s3 needs S3_BUCKET")
        self.bucket = bucket
        self.staging = Path(staging_dir).resolve()
        self.staging.mkdir(parents=True, exist_ok=True)
        self._client_options = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
        }
        self._client = None
        self._client_pid = None

    @classmethod
    def from_config(cls, config):
        return cls(
            config.get("S3_BUCKET"),
            staging_dir=Path(config["STORAGE_DIR"]) / "staging",
            endpoint_url=config.get("S3_ENDPOINT_URL"),
            region=config.get("S3_REGION"),
            access_key_id=config.get("S3_ACCESS_KEY_ID"),
            secret_access_key=config.get("S3_SECRET_ACCESS_KEY"),
        )

    @property
    def client(self):
        """A boto3 client of this process: made on first use and again after a fork (gunicorn, Celery prefork)."""
        if self._client is None or self._client_pid != os.getpid():
            import boto3
            from botocore.config import Config as BotoConfig

            options = {"retries": {"max_attempts": 5, "mode": "standard"}, "connect_timeout": 10, "read_timeout": 60}
            if self._client_options["endpoint_url"]:
                options["s3"] = {"addressing_style": "path"}
            self._client = boto3.client("s3", config=BotoConfig(**options), **self._client_options)
            self._client_pid = os.getpid()
        return self._client

    def create_bucket(self):
        """Create the bucket if it is missing (for tests and first starts; an operator may make it instead)."""
        with s3_errors(self.bucket):
            try:
                self.client.head_bucket(Bucket=self.bucket)
                return
            except Exception as exc:
                from botocore.exceptions import ClientError

                if not isinstance(exc, ClientError) or not s3_not_found(exc):
                    raise
            self.client.create_bucket(Bucket=self.bucket)

    def staging_file(self, max_bytes=None, hashed=True):
        """A staging file; ``hashed=False`` skips the sha256 for bytes that are hashed later (tus appends)."""
        return StagingFile(self.staging, max_bytes, hashed)

    def commit(self, staged, key):
        checked_key(key)
        staged.flush()
        try:
            with s3_errors(key):
                self.client.upload_file(staged.name, self.bucket, key)
        finally:
            staged.close()
        return StoredObject(key, staged.size, staged.sha256)

    def put_bytes(self, key, data):
        with s3_errors(checked_key(key)):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return StoredObject(key, len(data), hashlib.sha256(data).hexdigest())

    def open(self, key):
        with s3_errors(checked_key(key)):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        return S3Reader(self, key, response)

    def ranged_body(self, key, start):
        """The object's body from byte ``start`` on (for ``S3Reader`` after a seek)."""
        with s3_errors(key):
            return self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-")["Body"]

    @contextmanager
    def local_path(self, key):
        """A temporary local copy of the object for code that needs a path; removed afterwards."""
        fd, name = tempfile.mkstemp(dir=self.staging, prefix="local-")
        os.close(fd)
        try:
            with s3_errors(checked_key(key)):
                self.client.download_file(self.bucket, key, name)
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)

    def _pieces(self, key):
        """The object and its part objects (see ``append``), in order: a list of (key, size); one LIST request."""
        checked_key(key)
        pieces = []
        with s3_errors(key):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=key):
                pieces.extend(
                    (item["Key"], int(item["Size"]))
                    for item in page.get("Contents", [])
                    if item["Key"] == key or item["Key"].startswith(key + S3_PART_MARKER)
                )
        return sorted(pieces)

    def size(self, key):
        pieces = self._pieces(key)
        if not pieces:
            raise FileNotFoundError(key)
        return sum(size for _, size in pieces)

    def exists(self, key):
        return bool(self._pieces(key))

    def delete(self, key):
        self._delete_keys(key, [name for name, _ in self._pieces(key)] or [key])

    def _delete_keys(self, key, names):
        with s3_errors(key):
            for start in range(0, len(names), 1000):
                batch = [{"Key": name} for name in names[start : start + 1000]]
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def append(self, key, stream, max_bytes=None):
        """Add the stream as the next part object; returns how many bytes were added.

        What arrived is kept even when the stream breaks off or passes ``max_bytes``
        (then ``TooLarge`` is raised after the fitting bytes are stored), as on disk.
        """
        offset = sum(size for _, size in self._pieces(key))
        staged = self.staging_file()
        try:
            try:
                copy_limited(stream, staged, max_bytes)
            finally:
                staged.flush()
                with s3_errors(key):
                    self.client.upload_file(staged.name, self.bucket, f"{key}{S3_PART_MARKER}{offset:015d}")
        finally:
            staged.close()
        return staged.size

    def promote(self, partial_key, key, known_sha256=None):
        """Compose the partial object's pieces, in order, into the final object; hashes on the way, then drops them.

        The pieces are read to be composed anyway, so a ``known_sha256`` saves nothing here and is not used.
        """
        checked_key(key)
        pieces = self._pieces(partial_key)
        if not pieces:
            raise FileNotFoundError(partial_key)
        reader = HashingReader(self.open_part(name) for name, _ in pieces)
        with s3_errors(key):
            self.client.upload_fileobj(reader, self.bucket, key)
        self._delete_keys(partial_key, [name for name, _ in pieces])
        return StoredObject(key, reader.size, reader.sha256)

    def open_part(self, part_key):
        with s3_errors(part_key):
            return self.client.get_object(Bucket=self.bucket, Key=part_key)["Body"]

    def wipe(self):
        """Remove every object in the bucket; for tests only."""
        with s3_errors(self.bucket):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
                batch = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if batch:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        shutil.rmtree(self.staging, ignore_errors=True)


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


BACKENDS = {"local": LocalStorage, "s3": S3Storage}


def storage_from_config(config):
    """The backend named by ``STORAGE_BACKEND``, built from its own settings."""
    name = config.get("STORAGE_BACKEND", "local")
    try:
        backend = BACKENDS[name]
    except KeyError:
        raise ValueError(f"STORAGE_BACKEND={name!r}: expected one of {', '.join(sorted(BACKENDS))}") from None
    return backend.from_config(config)
