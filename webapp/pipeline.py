"""Handing images to the workers: only after the row is committed, and only the id travels."""

import sqlalchemy as sa
from flask import current_app

from .extensions import db
from .metrics import image_queued
from .models import Image, utcnow


def mark_queued(image_id, sent_at=None):
    """Move an image from ``uploaded`` to ``queued``, unless a worker has already taken it.

    A worker can take the image before this runs; the time it was sent is still recorded
    (``sent_at``, taken before sending, so it never follows the worker's ``processing_at``).
    """
    sent_at = sent_at or utcnow()
    moved = db.session.execute(
        sa.update(Image)
        .where(Image.id == image_id, Image.status == Image.UPLOADED)
        .values(status=Image.QUEUED, queued_at=sent_at, status_changed_at=sent_at)
    )
    if not moved.rowcount:
        db.session.execute(
            sa.update(Image).where(Image.id == image_id, Image.queued_at.is_(None)).values(queued_at=sent_at)
        )
    db.session.commit()
    if moved.rowcount:
        image_queued()


def queue_processing(image_ids):
    """Send each committed image to the workers.

    A broker that is down leaves the image ``uploaded``; the periodic sweep sends
    it again, so an upload is never lost between the web tier and the queue.
    """
    from webapp.processing.timelimits import send_to_workers

    sizes = dict(db.session.execute(sa.select(Image.id, Image.file_size).where(Image.id.in_(image_ids))).all())
    for image_id in image_ids:
        sent_at = utcnow()
        try:
            send_to_workers(image_id, sizes.get(image_id, 0), current_app.config)
        except Exception:
            current_app.logger.exception("could not queue image %s; the sweep will retry", image_id)
            continue
        mark_queued(image_id, sent_at)


def reset_for_reprocessing(image, tell_uploader=True):
    """Put an image back at the start of the pipeline (its results are replaced when it runs).

    Without ``tell_uploader`` (a redraw after a metadata change), the uploader is emailed only if the
    outcome differs from the one they were told of: a map that was ready and is ready again sends nothing.
    """
    image.set_status(Image.UPLOADED)
    image.attempts = 0
    if tell_uploader:
        image.notified_status = None
    image.notify_queued_at = None
