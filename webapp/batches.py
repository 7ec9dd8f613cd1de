"""Batches: files sent together, so the uploader hears about them once and sees what became of each.

A batch is one archive (its members become images in a worker), one submission of the upload page with several
files (with any ``.hdr``/``.img`` pairs among them), or the resumable uploads the page sent as a group. The web
tier only stores bytes and writes the batch row; ``webapp/processing/archives.py`` unpacks and pairs in a worker. The
batch is *closed* when no more images will join it; its email goes once it is closed and every image is final.
"""

import sqlalchemy as sa

from workers.pairs import is_pair_member
from workers.unpack import is_archive_name

from .extensions import db, get_storage
from .ingest import clean_filename
from .models import Batch, Image, utcnow
from .storage import new_key
from .text import one_line
from .urls import absolute_url

#: Skipped members listed one by one; past this many, the rest are counted by reason.
MAX_LISTED_SKIPS = 200


def needs_worker(filename):
    """Whether an uploaded file is unpacked or paired in a worker rather than becoming an image as it is."""
    return is_archive_name(filename) or is_pair_member(filename)


def new_batch(collection, user, kind, filename="", **fields):
    """A batch row for files sent together (the caller commits)."""
    batch = Batch(collection_id=collection.id, user_id=user.id, kind=kind, filename=clean_filename(filename)
                  if filename else "", sources=[], outcomes=[], source_bytes=0, **fields)
    db.session.add(batch)
    db.session.flush()
    return batch


def add_source(batch, stored, filename):
    """Keep a stored file (an archive, a pair half) for the worker that will unpack or pair it."""
    batch.sources = [*batch.sources, {"key": stored.key, "filename": clean_filename(filename), "size": stored.size}]
    batch.source_bytes = (batch.source_bytes or 0) + stored.size


def close(batch):
    """No more images will join: the email may go once every image is final."""
    batch.status = Batch.CLOSED
    batch.closed_at = utcnow()


def images_of(batch_id):
    """The batch's images, oldest first."""
    return db.session.scalars(sa.select(Image).where(Image.batch_id == batch_id).order_by(Image.id)).all()


def is_complete(batch):
    """Closed, and every image in it final: the moment for the one email."""
    if batch.status != Batch.CLOSED:
        return False
    pending = sa.select(sa.func.count(Image.id)).where(Image.batch_id == batch.id,
                                                       Image.status.in_(Image.PENDING_STATUSES))
    return db.session.scalar(pending) == 0


def is_single_image(batch):
    """A closed batch that came down to one image and nothing skipped: it gets the usual per-map email."""
    skipped = [outcome for outcome in batch.outcomes or [] if outcome.get("image_id") is None]
    count = db.session.scalar(sa.select(sa.func.count(Image.id)).where(Image.batch_id == batch.id))
    return batch.status == Batch.CLOSED and count == 1 and not skipped and not batch.error


def record_skip(batch, name, reason):
    """List a member that did not become an image, with its reason (bounded: the rest are counted).

    ``batch`` is the row or anything with its ``outcomes`` list (the import job's sheet).
    """
    outcomes = batch.outcomes or []
    listed = sum(1 for outcome in outcomes if outcome.get("image_id") is None and not outcome.get("more"))
    if listed < MAX_LISTED_SKIPS:
        batch.outcomes = [*outcomes, {"name": one_line(name)[:500], "reason": reason}]
        return
    more = next((outcome for outcome in outcomes if outcome.get("more")), None)
    if more is None:
        batch.outcomes = [*outcomes, {"name": "", "more": 1, "reason": "more members skipped (not listed)"}]
    else:
        more["more"] += 1
        batch.outcomes = list(outcomes)


def record_image(batch, name, image):
    batch.outcomes = [*(batch.outcomes or []), {"name": one_line(name)[:500], "image_id": image.id}]


def outcome_rows(batch):
    """Each member's outcome for the page, the JSON and the email: name, state, link or reason."""
    images = {image.id: image for image in images_of(batch.id)}
    rows = []
    listed = set()
    for outcome in batch.outcomes or []:
        image = images.get(outcome.get("image_id"))
        if outcome.get("image_id") is not None:
            if image is None:
                continue
            listed.add(image.id)
            rows.append(image_row(outcome["name"], image))
        elif outcome.get("more"):
            rows.append({"name": f"{outcome['more']:,} more", "state": "skipped", "reason": outcome["reason"]})
        else:
            rows.append({"name": outcome["name"], "state": "skipped", "reason": outcome["reason"]})
    rows += [image_row(image.original_filename, image) for image_id, image in images.items() if image_id not in listed]
    return rows


def image_row(name, image):
    return {
        "name": name,
        "state": image.status,
        "image_id": image.id,
        "image_name": image.name,
        "url": absolute_url("images.detail", image_id=image.id),
        "reason": image.error if image.status == Image.FAILED else None,
        "notes": ((image.extra or {}).get("import_notes") or {}).get("notes", []),
    }


def summary(rows):
    """Counts by state, for the subject line and the page: {"ready": 3, "failed": 1, "skipped": 2, ...}."""
    counts = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts


def batch_json(batch):
    """What the upload page polls: the batch's state and each member's outcome."""
    rows = outcome_rows(batch)
    return {
        "id": batch.id,
        "kind": batch.kind,
        "filename": batch.filename,
        "status": batch.status,
        "error": batch.error,
        "complete": is_complete(batch),
        "counts": summary(rows),
        "members": rows,
        "url": absolute_url("uploads.batch", batch_id=batch.id),
    }


def store_source(batch, file_storage):
    """Move an uploaded part (an archive, a pair half) into storage and keep it for the worker."""
    from .ingest import staged_file

    stored = get_storage().commit(staged_file(file_storage), new_key("originals"))
    add_source(batch, stored, file_storage.filename)
    return stored


def queue_import(batch_id):
    """Send a batch with stored files to a worker; a broker that is down is covered by the sweep of batches."""
    from flask import current_app

    from .processing.archives import import_batch

    try:
        import_batch.delay(batch_id)
    except Exception:
        current_app.logger.exception("could not queue batch %s; the batch sweep will retry", batch_id)


def accept_for_worker(collection, user, file_storage):
    """An archive (or a lone pair half) sent to the API: stored, committed and queued; returns the batch's JSON.

    The caller has reserved the quota; this settles it with the batch (which counts until it is unpacked).
    """
    from . import quota

    kind = "archive" if is_archive_name(file_storage.filename) else "form"
    batch = new_batch(collection, user, kind, filename=file_storage.filename)
    store_source(batch, file_storage)
    quota.settle()
    db.session.commit()
    queue_import(batch.id)
    db.session.refresh(batch)
    return batch_json(batch)
