"""Turning arriving bytes into an ``Image`` row: the one path shared by the upload page, the API and tus.

Limits are checked before bytes arrive (Content-Length against the size limit,
the user's remaining quota and their number of pending images) and again while
they arrive (the staging file stops at the limit), so nothing half-written stays.
"""

from flask import abort, current_app

from .extensions import db, get_storage
from .limits import pending_limit_for, quota_bytes_for
from .models import Image
from .storage import new_key
from .text import multi_line, one_line

NIFTI_SUFFIXES = (".nii.gz", ".nii", ".gz")
ENVELOPE_BYTES = 64 * 1024


def clean_filename(name):
    """The client's file name for display only: no path parts, no control characters, bounded length."""
    text = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    return one_line(text)[:255] or "unnamed.nii"


def display_name(filename):
    """An image name from a file name: without the NIfTI extension."""
    for suffix in NIFTI_SUFFIXES:
        if filename.lower().endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)]
    return filename


def remaining_quota(user):
    return max(quota_bytes_for(user) - user.bytes_stored(), 0)


def upload_limit_for(user, content_length, pending_new=1):
    """The most bytes one file may have now; aborts with 413/429 when the answer is no before reading.

    ``content_length`` is the whole request body, so it is allowed ``ENVELOPE_BYTES`` for the
    multipart envelope and form fields; the exact limit is enforced on the file's own bytes as
    they arrive.
    """
    config = current_app.config
    limit = config["MAX_UPLOAD_BYTES"]
    if content_length is not None and content_length > limit + ENVELOPE_BYTES:
        abort(413, f"The upload is {content_length:,} bytes; the limit is {limit:,} bytes per upload.")
    quota = remaining_quota(user)
    if content_length is not None and content_length > quota + ENVELOPE_BYTES:
        abort(
            413,
            f"The upload is {content_length:,} bytes but only {quota:,} bytes of your "
            f"{quota_bytes_for(user):,}-byte quota remain. Delete some images or ask an administrator.",
        )
    pending = user.pending_image_count()
    if pending + pending_new > pending_limit_for(user):
        abort(
            429,
            f"You have {pending} images waiting to be processed (the limit is "
            f"{pending_limit_for(user)}); please wait until some are done.",
        )
    return min(limit, quota)


def staged_file(file_storage):
    """The staging file Werkzeug wrote an uploaded part into (see ``incoming.StreamingRequest``)."""
    stream = file_storage.stream
    return getattr(stream, "_staged", stream)


def store_upload(file_storage):
    """Move an uploaded part into storage under a fresh key; returns the stored object."""
    return get_storage().commit(staged_file(file_storage), new_key("originals"))


def add_image(collection, user, stored, filename, **fields):
    """A new ``uploaded`` image row for stored bytes (the caller commits, then queues)."""
    filename = clean_filename(filename)
    name = one_line(fields.pop("name", None))[:255] or display_name(filename)
    if fields.get("description"):
        fields["description"] = multi_line(fields["description"])
    image = Image(
        collection=collection,
        uploader=user,
        name=name,
        original_filename=filename,
        storage_key=stored.key,
        file_size=stored.size,
        sha256=stored.sha256,
        status=Image.UPLOADED,
        **fields,
    )
    db.session.add(image)
    db.session.flush()
    collection.refresh_image_count()
    return image
