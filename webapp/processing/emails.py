"""The email tasks: the outcome email of each image (once, retried, never changing the image), the notices
the web tier composes, and Flask-Security's account emails, all sent from a worker."""

import logging
from datetime import timedelta

import sqlalchemy as sa
from celery import shared_task
from flask import current_app

from webapp.email import is_permanent_failure, send_email
from webapp.extensions import db
from webapp.models import Image, utcnow
from webapp.securitymail import send_instructions

from . import notify

log = logging.getLogger(__name__)

MAIL_RETRY_MAX_COUNTDOWN = 300


def set_notify_marker(image_id, when, only_if_idle=False):
    """Stamp (or clear, with None) the image's email marker; with ``only_if_idle``, only when no task holds it.

    The marker is the email task's claim: set when it is queued, refreshed at each try. A marker
    older than the longest wait between tries plus the sweep's deadline belongs to a task that died.
    """
    query = sa.update(Image).where(Image.id == image_id)
    if only_if_idle:
        silent_since = utcnow() - notify_task_silence()
        query = query.where(sa.or_(Image.notify_queued_at.is_(None), Image.notify_queued_at < silent_since))
    result = db.session.execute(query.values(notify_queued_at=when, modify_date=Image.modify_date))
    db.session.commit()
    return result.rowcount == 1


def notify_task_silence():
    """How long an email task may stay silent before the sweep takes it for dead."""
    return timedelta(seconds=current_app.config["STUCK_AFTER_SECONDS"] + MAIL_RETRY_MAX_COUNTDOWN)


def queue_notification(image_id):
    """Queue the outcome email unless a task for it is already running; True when one was queued.

    A broker that is down now is covered by the sweep's unsent-email pass (the marker is cleared again).
    """
    if not set_notify_marker(image_id, utcnow(), only_if_idle=True):
        return False
    try:
        notify_uploader.delay(image_id)
    except Exception:
        log.exception("image %s: could not queue the email; the sweep will", image_id)
        db.session.rollback()
        set_notify_marker(image_id, None)
        return False
    return True


@shared_task(bind=True, acks_late=True, max_retries=None)
def notify_uploader(self, image_id):
    """Email the uploader the outcome once; a mail failure is retried and never touches the image's state.

    A permanent failure (a header or address no server will take, an SMTP 5xx) is not retried: the
    email is settled as it is. Each try refreshes the image's marker, so the sweep starts no second task.
    """
    image = db.session.get(Image, image_id)
    if image is None or not image.is_final or image.notified_status == image.status or image.uploader is None:
        if image is not None:
            set_notify_marker(image_id, None)
        return False
    status = image.status
    set_notify_marker(image_id, utcnow())
    try:
        notify.send_outcome_email(image)
    except Exception as exc:
        db.session.rollback()
        if is_permanent_failure(exc):
            log.error("image %s: the email cannot be sent (%s: %s); not retrying", image_id, type(exc).__name__, exc)
            settle_notification(image_id, status)
            return False
        limit = current_app.config["MAIL_MAX_RETRIES"]
        if self.request.retries >= limit:
            log.error("image %s: giving up on the email after %s tries", image_id, limit)
            set_notify_marker(image_id, None)
            return False
        countdown = min(2 ** min(self.request.retries, 8), MAIL_RETRY_MAX_COUNTDOWN)
        raise self.retry(exc=exc, countdown=countdown) from exc
    settle_notification(image_id, status)
    return True


@shared_task(bind=True, acks_late=True, max_retries=None)
def send_notice(self, subject, recipients, text_body):
    """Send a message the web tier composed (a moderation notice), retried like the outcome emails."""
    try:
        send_email(subject, recipients, text_body)
    except Exception as exc:
        if self.request.retries >= current_app.config["MAIL_MAX_RETRIES"]:
            log.error("giving up on the notice %r to %s", subject, recipients)
            return False
        raise self.retry(exc=exc, countdown=min(2 ** min(self.request.retries, 8), 300)) from exc
    return True


def settle_notification(image_id, status):
    """Record that the email for this status is done with, and release the marker."""
    db.session.execute(
        sa.update(Image)
        .where(Image.id == image_id)
        .values(notified_status=status, notify_queued_at=None, modify_date=Image.modify_date)
    )
    db.session.commit()


@shared_task(acks_late=True)
def send_account_instructions(kind, email):
    """Reset or confirmation instructions for an address, if it has an account (the request never looks)."""
    return send_instructions(kind, email)


@shared_task(bind=True, acks_late=True, max_retries=None)
def send_account_email(self, subject, recipient, sender, body, html):
    """Send one email Flask-Security rendered; retried like the outcome emails, never when it cannot succeed."""
    try:
        send_email(subject, [recipient], body, html, sender=sender)
    except Exception as exc:
        if is_permanent_failure(exc):
            log.error("an account email cannot be sent (%s: %s); not retrying", type(exc).__name__, exc)
            return False
        if self.request.retries >= current_app.config["MAIL_MAX_RETRIES"]:
            log.error("giving up on an account email after %s tries", self.request.retries)
            return False
        countdown = min(2 ** min(self.request.retries, 8), MAIL_RETRY_MAX_COUNTDOWN)
        raise self.retry(exc=exc, countdown=countdown) from exc
    return True
