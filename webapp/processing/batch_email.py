"""One email per batch: when the last file sent together is final, the uploader hears about all of them at once.

``sent_with_batch`` is the hook the per-map email calls first: a map that belongs to a batch (and whose uploader
did not ask for one email per file) sends nothing of its own and, if it was the last one, queues the batch's
email. The batch's email is claimed by stamping ``notified_at`` in one conditional update, so two maps finishing
together send it once; a failure to send clears the stamp and retries, like the per-map email.
"""

import logging

import sqlalchemy as sa
from celery import shared_task
from flask import current_app, render_template

from webapp import batches
from webapp.email import is_permanent_failure, send_email
from webapp.extensions import db
from webapp.models import Batch, User, utcnow
from webapp.text import one_line
from webapp.urls import absolute_url

log = logging.getLogger(__name__)

MAX_COUNTDOWN = 300


def per_batch(user):
    """Whether this uploader wants one email per batch (the default) rather than one per map."""
    return user is not None and not user.email_per_file


def sent_with_batch(image):
    """True when the batch's email covers this map (so it sends none of its own); queues that email if due.

    Once the batch's email went, it covers the maps that were final before it; a map processed again after it
    (Reprocess) sends its own.
    """
    if image.batch_id is None or not per_batch(image.uploader):
        return False
    batch = db.session.get(Batch, image.batch_id)
    if batch is None or batches.is_single_image(batch):
        return False
    if batch.notified_at is not None:
        return image.status_changed_at <= batch.notified_at
    if batches.is_complete(batch):
        queue_batch_email(batch.id)
    return True


def queue_batch_email(batch_id):
    """Queue the batch's email when it is due; the task checks again (a second one does nothing)."""
    try:
        notify_batch.delay(batch_id)
    except Exception:
        log.exception("batch %s: could not queue its email", batch_id)


def claim(batch_id):
    """Stamp the batch as emailed, once; False when another task already did."""
    result = db.session.execute(
        sa.update(Batch).where(Batch.id == batch_id, Batch.notified_at.is_(None)).values(notified_at=utcnow()))
    db.session.commit()
    return result.rowcount == 1


def release(batch_id):
    db.session.execute(sa.update(Batch).where(Batch.id == batch_id).values(notified_at=None))
    db.session.commit()


def subject_for(batch, counts):
    """``Your 12 maps: 10 ready, 1 failed, 3 skipped`` (the archive's name when there is one)."""
    parts = [f"{counts[state]} {state}" for state in ("ready", "failed", "skipped") if counts.get(state)]
    what = f"“{one_line(batch.filename)}”" if batch.filename else "upload"
    return f"Your {what}: {', '.join(parts) or 'nothing to import'}"


def send_batch_email(batch):
    rows = batches.outcome_rows(batch)
    counts = batches.summary(rows)
    context = {"batch": batch, "rows": rows, "counts": counts,
               "batch_url": absolute_url("uploads.batch", batch_id=batch.id)}
    send_email(
        subject=subject_for(batch, counts),
        recipients=[batch.user.email],
        text_body=render_template("email/batch.txt", **context),
        html_body=render_template("email/batch.html", **context),
        headers={"X-Neurodrop-Batch": str(batch.id)},
    )


@shared_task(bind=True, acks_late=True, max_retries=None)
def notify_batch(self, batch_id):
    """Send the batch's one email if it is complete and not sent; retried on mail failures."""
    batch = db.session.get(Batch, batch_id)
    if batch is None or batch.notified_at is not None or not batches.is_complete(batch):
        return False
    if not batch.outcomes and not batch.error:
        return False
    if batches.is_single_image(batch) or not per_batch(db.session.get(User, batch.user_id)):
        return resend_single(batch)
    if not claim(batch_id):
        return False
    try:
        send_batch_email(batch)
    except Exception as exc:
        db.session.rollback()
        release(batch_id)
        if is_permanent_failure(exc) or self.request.retries >= current_app.config["MAIL_MAX_RETRIES"]:
            log.error("batch %s: the email cannot be sent (%s); not retrying", batch_id, exc)
            return False
        raise self.retry(exc=exc, countdown=min(2 ** min(self.request.retries, 8), MAX_COUNTDOWN)) from exc
    return True


def resend_single(batch):
    """A batch that came down to one map: its own email, if the batch held it back while it was open."""
    from .emails import queue_notification

    images = batches.images_of(batch.id)
    if len(images) == 1 and images[0].is_final and images[0].notified_status == images[0].status:
        if claim(batch.id):
            images[0].notified_status = None
            db.session.commit()
            queue_notification(images[0].id)
    return False
