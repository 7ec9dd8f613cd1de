"""Serving and removing stored files, shared by the pages and the API."""

import io
import os

import sqlalchemy as sa
from flask import current_app, request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from .extensions import db, get_storage
from .models import Image, Upload
from .storage import SizedReader

GZIP_MAGIC = b"\x1f\x8b"


def download_name(name, fallback):
    """A safe file name for Content-Disposition: no path parts, no control characters, and no ``%``
    (browsers percent-decode even the plain ``filename=``, which would bring ``%2f`` back as ``/``)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>:|?*%').strip(" .")
    return cleaned[:200] or fallback


def nifti_download_name(image):
    """The name a downloaded map is saved under: the upload's name, with an extension that matches its bytes."""
    name = download_name(image.original_filename or image.name, f"image-{image.id}.nii")
    lower = name.lower()
    gzipped = image.report.get("compressed") if isinstance(image.report, dict) else None
    if gzipped is None:
        gzipped = lower.endswith(".gz")
    if gzipped and not lower.endswith(".nii.gz"):
        name = name.removesuffix(".gz").removesuffix(".nii") + ".nii.gz"
    elif not gzipped and not lower.endswith(".nii"):
        name = name + ".nii"
    return name


def send_stored(key, *, mimetype, name=None, as_attachment=False, max_age=0, span=None, prefix=b""):
    """Stream a stored object with ranges and conditional requests, never with Content-Encoding.

    Flask guesses ``Content-Encoding: gzip`` from a ``.gz`` name, which makes HTTP clients
    unpack the bytes on the fly and save raw NIfTI under a ``.nii.gz`` name; the stored
    bytes are served exactly as they are instead. ``span`` (start, length) serves that part
    of the object as a file of its own (one volume of a series), reading nothing else,
    after ``prefix`` (that volume's header).
    """
    storage = get_storage()
    handle = storage.open(key)
    modified = handle_mtime(handle)
    if span is not None:
        handle = StoredSlice(handle, *span, prefix=prefix)
        key = f"{key}-{span[0]:x}"
    return send_handle(handle, key, modified, mimetype=mimetype, name=name, as_attachment=as_attachment,
                       max_age=max_age)


def send_computed(data, key, modified, *, mimetype, name=None, max_age=0):
    """Bytes made from stored objects for this request (a volume inflated from an access point), served like
    a stored object: ``key`` and ``modified`` (of what they were made from) give the ETag and Last-Modified."""
    return send_handle(HeldBytes(data), key, modified, mimetype=mimetype, name=name, max_age=max_age)


def send_handle(handle, key, modified, *, mimetype, name=None, as_attachment=False, max_age=0):
    """An opened file-like with ``size`` (or a descriptor) as a response with ranges and conditional requests."""
    size = handle_size(handle)
    response = send_file(
        handle,
        mimetype=mimetype,
        as_attachment=as_attachment,
        download_name=name,
        conditional=False,
        max_age=max_age,
        etag=stored_etag(key, size, modified),
        last_modified=modified,
    )
    response.content_length = size
    try:
        response = response.make_conditional(request, accept_ranges=True, complete_length=size)
    except RequestedRangeNotSatisfiable:
        handle.close()
        raise
    response.headers.pop("Content-Encoding", None)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Accept-Ranges", "bytes")
    return response


class HeldBytes(io.BytesIO):
    """Bytes in memory with the ``size`` that ranges need."""

    def __init__(self, data):
        super().__init__(data)
        self.size = len(data)


class StoredSlice(SizedReader):
    """``prefix`` then bytes [start, start + length) of an opened stored object, as a seekable file of their own."""

    def __init__(self, handle, start, length, prefix=b""):
        super().__init__()
        self._handle = handle
        self._prefix = bytes(prefix)
        self._start = start - len(self._prefix)  # where position p of this file is in the object, past the prefix
        self.size = len(self._prefix) + length
        self._position = 0
        handle.seek(start)

    def seek(self, offset, whence=io.SEEK_SET):
        self._position = min(self.target(offset, whence), self.size)
        self._handle.seek(self._start + max(self._position, len(self._prefix)))
        return self._position

    def readinto(self, buffer):
        wanted = min(len(buffer), self.size - self._position)
        if wanted <= 0:
            return 0
        if self._position < len(self._prefix):
            data = self._prefix[self._position:self._position + wanted]
        else:
            data = self._handle.read(wanted)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def close(self):
        self._handle.close()
        super().close()


def handle_size(handle):
    """The byte size of an opened stored object: Werkzeug only knows it for paths, and ranges need it."""
    size = getattr(handle, "size", None)
    return size if size is not None else os.fstat(handle.fileno()).st_size


def handle_mtime(handle):
    """When the stored object was last written (a datetime or a timestamp), for Last-Modified and If-Range."""
    modified = getattr(handle, "last_modified", None)
    return modified if modified is not None else os.fstat(handle.fileno()).st_mtime


def stored_etag(key, size, modified):
    """Changes when a re-run replaces the object under the same key (thumbnails, copies), so a resumed
    download never stitches two versions together."""
    stamp = modified.timestamp() if hasattr(modified, "timestamp") else float(modified)
    return f"{key.replace('/', '-')}-{size:x}-{int(stamp * 1000):x}"


def nifti_mimetype(name):
    return "application/gzip" if name.lower().endswith(".gz") else "application/octet-stream"


def delete_image(image):
    """Delete an image row, keep its collection's count right, then remove its files.

    The keys are read under the row's lock, after any worker writing results has committed,
    so thumbnails it stored are removed too (a worker that finds the row gone removes its own).
    """
    collection = image.collection
    db.session.get(Image, image.id, with_for_update=True, populate_existing=True)
    db.session.refresh(image, attribute_names=["artifacts"])
    keys = image.stored_keys
    db.session.execute(sa.delete(Upload).where(Upload.image_id == image.id))
    db.session.delete(image)
    db.session.flush()
    collection.refresh_image_count()
    db.session.commit()
    delete_stored(keys)


def delete_collection(collection):
    """Delete a collection with its images, then remove their files (keys read under the images' locks)."""
    db.session.execute(sa.select(Image.id).where(Image.collection_id == collection.id).with_for_update())
    keys = collection.stored_keys()
    db.session.delete(collection)
    db.session.commit()
    delete_stored(keys)


def delete_stored(keys):
    """Remove files after their rows are gone; a failure leaves an orphan file, never a broken row."""
    storage = get_storage()
    for key in keys:
        try:
            storage.delete(key)
        except OSError:
            current_app.logger.warning("could not delete stored object %s", key)
