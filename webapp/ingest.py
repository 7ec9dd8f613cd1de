"""Turning arriving bytes into an ``Image`` row: the one path shared by the upload page, the API and tus.

Limits are checked before bytes arrive (Content-Length against the size limit,
the user's remaining quota and their number of pending images) and again while
they arrive (the staging file stops at the limit), so nothing half-written stays.
The quota is reserved before the body is read and settled with the images
(``webapp/quota.py``), whatever the transfer encoding and however many parts.
"""

from flask import abort, current_app

from workers.naming import PLAIN_NAME, infer_from_path

from . import quota
from .extensions import db, get_storage
from .inferred import apply_inferred
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
    """Bytes of the user's quota not taken by images, unfinished tus uploads or requests in flight."""
    return quota.available_bytes(user.id)


def quota_full(user, content_length, available):
    """The 413 for an upload that does not fit what is left of the quota."""
    size = "Only" if content_length is None else f"The upload is {content_length:,} bytes but only"
    abort(
        413,
        f"{size} {available:,} bytes of your {quota_bytes_for(user):,}-byte quota remain "
        "(counting uploads in progress). Delete some images or ask an administrator.",
    )


def reserve_upload_bytes(user, content_length):
    """The bytes this request's files may hold in all, reserved from the quota before the body is read.

    ``content_length`` is the whole request body, so it is allowed ``ENVELOPE_BYTES`` for the
    multipart envelope and form fields. A body without one (chunked) reserves what is left of
    the quota, up to the largest request; aborts with 413/429 when the answer is no before reading.
    """
    config = current_app.config
    limit = config["MAX_UPLOAD_BYTES"]
    if content_length is not None and content_length > limit + ENVELOPE_BYTES:
        abort(413, f"The upload is {content_length:,} bytes; the limit is {limit:,} bytes per upload.")
    check_pending_images(user, pending_new=1)
    wanted = config["MAX_CONTENT_LENGTH"] if content_length is None else content_length
    at_least = 1 if content_length is None else max(content_length - ENVELOPE_BYTES, 1)
    try:
        return quota.reserve(user.id, wanted, at_least)
    except quota.QuotaFull as full:
        quota_full(user, content_length, full.available)


def check_pending_images(user, pending_new):
    """429 when ``pending_new`` more images would pass the user's limit of images waiting for a worker."""
    pending = user.pending_image_count()
    if pending + pending_new > pending_limit_for(user):
        abort(
            429,
            f"You have {pending} images waiting to be processed (the limit is "
            f"{pending_limit_for(user)}); please wait until some are done.",
        )


def staged_file(file_storage):
    """The staging file Werkzeug wrote an uploaded part into (see ``streaming_request.StreamingRequest``)."""
    stream = file_storage.stream
    return getattr(stream, "_staged", stream)


def store_upload(file_storage):
    """Move an uploaded part into storage under a fresh key; returns the stored object."""
    return get_storage().commit(staged_file(file_storage), new_key("originals"))


def add_image(collection, user, stored, filename, **fields):
    """A new ``uploaded`` image row for stored bytes (the caller commits, then queues)."""
    filename = clean_filename(filename)
    typed = typed_fields(fields, filename)
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
    apply_inferred(image, inferred_from_name(filename), typed=typed)
    db.session.add(image)
    db.session.flush()
    collection.refresh_image_count()
    return image


def inferred_from_name(filename):
    """What a single file's name says (BIDS, SPM, FSL); its plain name is its name already, not an inference."""
    return {field: entry for field, entry in infer_from_path(filename).items() if entry["why"] != PLAIN_NAME}


def typed_fields(fields, filename):
    """The fields the uploader gave (a name that is only the file's name without extension counts as not given)."""
    typed = {field for field, value in fields.items() if value not in (None, "", {}) and field != "extra"}
    typed |= set(fields.get("extra") or {})
    if one_line(fields.get("name")) == display_name(filename):
        typed.discard("name")
    return typed
