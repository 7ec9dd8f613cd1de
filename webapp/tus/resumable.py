"""The life of one resumable upload: its row, its partial bytes, and the moment it becomes an Image.

The ``Upload`` row is the source of truth. Its ``offset`` only ever says how
many bytes are durably on disk: bytes are appended (and fsynced) first, the
row is updated after.

Appending is guarded by a *claim* taken with a conditional UPDATE on the
offset: ``offset = -1 - offset WHERE offset = <the offset the client sent>``.
Only one request can win it, so two PATCHes never write into the same file at
once, and a negative offset tells everyone else an append is under way (the
acknowledged offset is still readable from it). The claim is taken before the
body is read, and the body streams straight into the partial object, so each
byte is written once (decision 0023). The claim is a *lease*: the body renews
it as bytes arrive (``body.PatchBody``), a silent client is cut off by the
socket's idle timeout, and a claim not renewed for ``CLAIM_STALE_AFTER`` is
settled from the bytes on disk by the next request; a body whose renewal fails
stops before writing another byte.
"""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import abort, current_app

from .. import batch_tus, batches, quota
from ..extensions import db, get_storage
from ..ingest import add_image, check_pending_images
from ..models import Upload, utcnow
from ..pipeline import queue_processing
from ..storage import new_key
from ..text import one_line
from ..vocab import MAP_TYPES

CLAIM_STALE_AFTER = timedelta(minutes=2)


class OffsetMoved(Exception):
    """Another request moved the offset first; the client must ask for it again (409)."""


class UploadBusy(Exception):
    """Another request is appending to this upload right now (423)."""


# reading the row ------------------------------------------------------------------------------


def is_claimed(upload):
    return upload.offset < 0


def acknowledged_offset(upload):
    """The bytes acknowledged so far, whether or not an append is under way."""
    return upload.offset if upload.offset >= 0 else -1 - upload.offset


def finished_image_id(upload):
    """The id of the image this upload became, or None while it is still partial."""
    return (upload.meta or {}).get("image_id")


def is_finished(upload):
    """Whether the upload became an image, or a source of a batch (an archive, a pair half)."""
    return finished_image_id(upload) is not None or (upload.meta or {}).get("batch_id") is not None


def is_expired(upload):
    return not is_finished(upload) and upload.expires_at <= utcnow()


def next_expiry():
    return utcnow() + timedelta(hours=current_app.config["TUS_EXPIRY_HOURS"])


def claim_age(upload):
    started = (upload.meta or {}).get("claimed_at")
    if not started:
        return CLAIM_STALE_AFTER
    return utcnow() - datetime.fromisoformat(started)


def partial_size(upload):
    """How many bytes of the upload are on disk (0 when the partial object is gone)."""
    try:
        return get_storage().size(upload.storage_key)
    except FileNotFoundError:
        return 0


def reload(upload_id):
    """The row as the database has it now (other requests may have moved it)."""
    return db.session.get(Upload, upload_id, populate_existing=True)


# limits ---------------------------------------------------------------------------------------


def check_size_limit(length):
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    if length > limit:
        abort(413, f"The upload is {length:,} bytes; the limit is {limit:,} bytes per upload.")


def quota_full(length, available):
    abort(
        413,
        f"The upload is {length:,} bytes but only {max(available, 0):,} bytes of your quota remain once "
        "your images and unfinished uploads are counted. Delete some, or ask an administrator.",
    )


def check_quota(user, length, upload_id=None):
    """413 unless ``length`` more bytes fit the user's quota, counting their other unfinished uploads.

    An early answer only: a new upload is held to the quota for good when its row is committed.
    """
    available = quota.available_bytes(user.id, excluding_upload=upload_id)
    if length > available:
        quota_full(length, available)


def check_creation_limits(user, length):
    """413/429 before an upload of ``length`` bytes is accepted: size limit, quota, the user's queue."""
    check_size_limit(length)
    check_quota(user, length)
    check_pending_images(user, pending_new=1)


def check_patch_limits(user, upload, content_length):
    """413 when the body would pass the upload's length, or the upload no longer fits the limits."""
    remaining = upload.length - acknowledged_offset(upload)
    if content_length is not None and content_length > remaining:
        abort(413, f"The body is {content_length:,} bytes but only {remaining:,} bytes of the upload remain.")
    check_size_limit(upload.length)
    check_quota(user, upload.length, upload_id=upload.id)


# creating and ending --------------------------------------------------------------------------


def image_fields(metadata):
    """The Image fields the client may set through ``Upload-Metadata``."""
    fields = {}
    if one_line(metadata.get("name")):
        fields["name"] = one_line(metadata["name"])
    if metadata.get("map_type"):
        fields["map_type"] = metadata["map_type"]
    return fields


def checked_map_type(value):
    if value and value not in MAP_TYPES:
        abort(400, f"Upload-Metadata: map_type={value!r}: expected one of {', '.join(MAP_TYPES)}.")
    return value


def create_upload(user, collection, length, filename, fields):
    """A new upload with an empty partial object, committed so its offset survives a restart.

    Its row reserves its whole length from the quota: it is committed only if the quota still
    holds once it counts (``quota.commit_within_quota``), so parallel creations cannot pass it.
    """
    key = new_key("partials")
    get_storage().put_bytes(key, b"")
    db.session.commit()
    upload = Upload(
        user_id=user.id,
        collection_id=collection.id,
        length=length,
        offset=0,
        filename=filename[:255],
        meta=dict(fields),
        storage_key=key,
        expires_at=next_expiry(),
    )
    db.session.add(upload)
    db.session.flush()
    try:
        quota.commit_within_quota(user.id, excluding_upload=upload.id)
    except quota.QuotaFull as full:
        get_storage().delete(key)
        quota_full(length, full.available)
    return upload


def terminate(upload):
    """Forget an upload and its partial bytes (tus termination); 423 while an append is under way."""
    if is_claimed(upload) and claim_age(upload) < CLAIM_STALE_AFTER:
        raise UploadBusy()
    key = upload.storage_key
    db.session.delete(upload)
    db.session.commit()
    get_storage().delete(key)


# claiming and appending -----------------------------------------------------------------------


def _conditional_update(upload_id, expected_offset, **values):
    """Set values only if the offset is still what this request last saw; True when it was."""
    result = db.session.execute(
        sa.update(Upload)
        .where(Upload.id == upload_id, Upload.offset == expected_offset)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def claim(upload, offset):
    """Take the right to append at ``offset``; raises OffsetMoved or UploadBusy when another request has it."""
    meta = dict(upload.meta or {}, claimed_at=utcnow().isoformat())
    won = _conditional_update(upload.id, offset, offset=-1 - offset, meta=meta, expires_at=next_expiry())
    db.session.commit()
    if not won:
        current = reload(upload.id)
        if current is not None and is_claimed(current):
            raise UploadBusy()
        raise OffsetMoved()


def release(upload, claimed_at_offset, new_offset, **values):
    """End a claim at the new durable offset (the caller commits)."""
    meta = {key: value for key, value in (upload.meta or {}).items() if key != "claimed_at"}
    meta.update(values.pop("meta", {}))
    return _conditional_update(upload.id, -1 - claimed_at_offset, offset=new_offset, meta=meta, **values)


def settle_stale_claim(upload):
    """Free a claim left by a process that died mid-append: the bytes on disk say where the upload is."""
    if not is_claimed(upload) or claim_age(upload) < CLAIM_STALE_AFTER:
        return upload
    on_disk = min(partial_size(upload), upload.length)
    if not get_storage().exists(upload.storage_key):
        get_storage().put_bytes(upload.storage_key, b"")
        on_disk = 0
    release(upload, acknowledged_offset(upload), on_disk)
    db.session.commit()
    current_app.logger.warning("upload %s: settled a stale claim at %s bytes on disk", upload.id, on_disk)
    return reload(upload.id)


def renew_claim(upload, claimed_at_offset):
    """Extend a claim this request holds; False when it was settled as stale meanwhile (the body must stop)."""
    meta = dict(reload(upload.id).meta or {}, claimed_at=utcnow().isoformat())
    renewed = _conditional_update(upload.id, -1 - claimed_at_offset, meta=meta, expires_at=next_expiry())
    db.session.commit()
    return renewed


def append_body(upload, body):
    """Append a request body at the upload's offset as it arrives; the last byte turns the upload into an Image.

    Raises ``storage.TooLarge`` (after keeping what fitted) when the body runs past the upload's length.
    """
    offset = upload.offset
    claim(upload, offset)
    try:
        on_disk = partial_size(upload)
        if on_disk != offset:
            release(upload, offset, min(on_disk, upload.length))
            db.session.commit()
            current_app.logger.warning("upload %s: row said %s, disk holds %s bytes", upload.id, offset, on_disk)
            raise OffsetMoved()
        body.keep_claim_with(lambda: renew_claim(upload, offset))
        added = get_storage().append(upload.storage_key, body, max_bytes=upload.length - offset)
        if body.claim_lost:
            raise OffsetMoved()
        if offset + added == upload.length:
            return finish(upload, offset, whole_upload_digest(body, offset, added))
        release(upload, offset, offset + added)
        db.session.commit()
        return reload(upload.id)
    except OffsetMoved:
        raise
    except Exception:
        db.session.rollback()
        undo_claim(upload, offset)
        raise


def undo_claim(upload, offset):
    """After a failed append, put the row back in line with what reached the disk."""
    try:
        release(upload, offset, min(partial_size(upload), upload.length))
        db.session.commit()
    except Exception:
        db.session.rollback()
        current_app.logger.exception("upload %s: could not release its claim; it will be settled later", upload.id)


def whole_upload_digest(body, offset, added):
    """The body's sha256 when that body alone is the whole upload, else None."""
    if offset == 0 and body.hashed and body.size == added:
        return body.sha256
    return None


def finish(upload, claimed_at_offset, known_sha256=None):
    """Turn the complete partial into an original, and that into an image or a batch's source (claim held).

    Should the database fail once the partial has moved, it is moved back before the error goes on,
    whatever the file became: the upload stays complete and resumable (the next HEAD finishes it), and
    no file is left orphaned. Queues are sent only after the commit.
    """
    stored = get_storage().promote(upload.storage_key, new_key("originals"), known_sha256)
    try:
        released, image_ids, batch_ids = recorded_finish(upload, claimed_at_offset, stored)
        if released:
            db.session.commit()
    except Exception:
        db.session.rollback()
        get_storage().unpromote(stored.key, upload.storage_key)
        raise
    if not released:
        db.session.rollback()
        get_storage().delete(stored.key)
        abort(410, "The upload was deleted while its last bytes arrived.")
    queue_processing(image_ids)
    for batch_id in batch_ids:
        batches.queue_import(batch_id)
    return reload(upload.id)


def recorded_finish(upload, claimed_at_offset, stored):
    """Write what a finished upload became (uncommitted): ``(released, image ids, batch ids to queue)``."""
    if batches.needs_worker(upload.filename):
        return batch_tus.recorded_source(upload, claimed_at_offset, stored)
    image = add_image(upload.collection, upload.user, stored, upload.filename, **image_fields(upload.meta or {}))
    group = batch_tus.joined(image, upload)
    released = release(
        upload,
        claimed_at_offset,
        upload.length,
        image_id=image.id,
        meta={"image_id": image.id},
        expires_at=next_expiry(),
    )
    return released, [image.id], [group.id] if group is not None else []


def finish_if_full(upload):
    """Finish an upload whose bytes all arrived but which has no image yet (a process died in between)."""
    if upload.offset == upload.length and not is_finished(upload):
        claim(upload, upload.offset)
        try:
            return finish(upload, upload.length)
        except Exception:
            db.session.rollback()
            undo_claim(upload, upload.length)
            raise
    return upload
