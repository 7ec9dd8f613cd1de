"""Resumable uploads in batches: an archive or a pair half sent by tus, and the groups the upload page sends.

The page names a group with ``Upload-Metadata: batch <id>, batch_size <n>``; every upload of the group joins one
``Batch`` (its id is the page's, unique per user). A map becomes an image of the batch as it finishes; an archive
or a ``.hdr``/``.img`` half is kept as one of the batch's sources. Archives are unpacked as soon as they arrive;
halves wait for the last file of the group. The group is closed when ``batch_size`` files have arrived (or, for a
group whose last files never come, by the sweep after ``BATCH_WAIT_SECONDS``).
"""

import re
from datetime import timedelta

import sqlalchemy as sa
from flask import abort

from . import batches
from .extensions import db
from .models import Batch, utcnow
from .numbers import ascii_whole_number
from .urls import absolute_url

CLIENT_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_GROUP = 10_000
#: A finished upload that became a batch's source stops counting against the quota (the batch counts) after this.
SOURCE_UPLOAD_KEPT = timedelta(minutes=10)


def group_fields(metadata):
    """The batch id and size the page sent, checked: ``{"batch": …, "batch_size": n}`` or {}."""
    key = (metadata.get("batch") or "").strip()
    if not key:
        return {}
    if not CLIENT_KEY.fullmatch(key):
        abort(400, f"Upload-Metadata: batch={key[:80]!r}: expected 1 to 64 letters, digits, '-' or '_'.")
    size = ascii_whole_number((metadata.get("batch_size") or "").strip(), max_digits=5)
    if size is None or not 1 <= size <= MAX_GROUP:
        abort(400, f"Upload-Metadata: batch_size={metadata.get('batch_size')!r}: expected a number of files "
                   f"from 1 to {MAX_GROUP:,}.")
    return {"batch": key, "batch_size": size}


def group_of(upload, lock=False):
    """The upload's group batch (created on first use), or None when it was sent alone or arrives too late.

    A group stops taking files once it is closed, or handed to the worker (its last file came, or the sweep
    gave up waiting): a file arriving after that is on its own, or it would wait for a worker that already ran.
    Locked ``FOR NO KEY UPDATE`` like the quota's user row (``quota.lock_user_quota``): the group's files
    finishing together take turns without deadlocking on the rows that point at it.
    """
    meta = upload.meta or {}
    if not meta.get("batch"):
        return None
    query = sa.select(Batch).where(Batch.user_id == upload.user_id, Batch.client_key == meta["batch"])
    batch = db.session.scalar(query.with_for_update(key_share=True) if lock else query)
    if batch is None:
        return batches.new_batch(upload.collection, upload.user, "tus", client_key=meta["batch"],
                                 expected_files=meta["batch_size"])
    return batch if batch.kind == "tus" and batch.status == Batch.WAITING else None


def arrived_files(batch):
    """How many files of the group have arrived: images, and stored sources (an archive counts as one)."""
    return len(batch.outcomes or []) + len(batch.sources or [])


def finished_into_batch(upload, stored):
    """An archive or a pair half that finished: kept for the worker in its own batch or its group's.

    Returns the batch and whether it should be queued for the worker now (the caller commits first).
    """
    group = group_of(upload, lock=True)
    if batches.is_archive_name(upload.filename):
        own = batches.new_batch(upload.collection, upload.user, "archive", filename=upload.filename)
        batches.add_source(own, stored, upload.filename)
        if group is not None:
            batches.record_skip(group, upload.filename, "an archive: its members are listed on its own page")
            close_if_arrived(group)
        return own, True
    target = group or batches.new_batch(upload.collection, upload.user, "form", filename=upload.filename)
    batches.add_source(target, stored, upload.filename)
    return target, close_if_arrived(target) if group is not None else True


def joined(image, upload):
    """Put a map that finished into its group, if the page sent it in one; queue the group's halves if last."""
    group = group_of(upload, lock=True)
    if group is None:
        return None
    image.batch_id = group.id
    batches.record_image(group, upload.filename, image)
    return group if close_if_arrived(group) else None


def close_if_arrived(group):
    """Whether the group's last file arrived: then it waits for the worker (halves) or is closed (maps only)."""
    if group.kind != "tus" or arrived_files(group) < (group.expected_files or 1):
        return False
    if group.sources:
        group.kind = "form"
        return True
    batches.close(group)
    return False


def batch_headers(upload):
    """``X-Batch-Url`` for an upload that went into a batch (the page follows its members there)."""
    batch_id = (upload.meta or {}).get("batch_id")
    if batch_id is None:
        return {}
    return {"X-Batch-Id": str(batch_id), "X-Batch-Url": absolute_url("uploads.batch", batch_id=batch_id)}


def recorded_source(upload, claimed_at_offset, stored):
    """A finished tus upload of an archive or a pair half, kept as a batch's source (uncommitted).

    No image yet: the batch's worker makes them. Returns ``(released, [], batch ids to queue)`` for
    ``tus.resumable.finish``, which commits, or moves the file back when the database fails.
    """
    from .tus.resumable import next_expiry, release

    batch, ready = finished_into_batch(upload, stored)
    db.session.flush()
    released = release(upload, claimed_at_offset, upload.length, meta={"batch_id": batch.id},
                       expires_at=min(next_expiry(), utcnow() + SOURCE_UPLOAD_KEPT))
    return released, [], [batch.id] if ready else []
