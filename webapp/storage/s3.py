"""Objects in an S3-compatible bucket, so that web and worker machines share them (decision 0004)."""

import hashlib
import io
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .base import StagedWrites, StoredObject, checked_key, copy_limited
from .staging import CHUNK_SIZE

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

    def unpromote(self, key, partial_key):
        """Undo ``promote``: the object becomes the partial object's single piece again."""
        checked_key(partial_key)
        with s3_errors(key):
            self.client.copy({"Bucket": self.bucket, "Key": checked_key(key)}, self.bucket, partial_key)
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def open_part(self, part_key):
        with s3_errors(part_key):
            return self.client.get_object(Bucket=self.bucket, Key=part_key)["Body"]
