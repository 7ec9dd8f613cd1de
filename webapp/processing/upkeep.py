"""Periodic upkeep run by beat: re-queue stuck images and unsent emails, forget expired uploads and searches."""

from datetime import timedelta

import sqlalchemy as sa
from celery import shared_task
from flask import current_app

from webapp.extensions import db, get_storage
from webapp.models import Image, Upload, utcnow
from webapp.quota import forget_stale_reservations

from .emails import notify_task_silence, queue_notification
from .timelimits import send_to_workers, stuck_after_seconds


@shared_task
def sweep_stuck_images():
    """Re-queue images stuck before a final state past the deadline; fail them after too many attempts.

    A large file's deadline is later by the time its run may take (``timelimits``): a long series still being
    read is not sent to a second worker, nor failed for "attempts" that were one run.
    """
    config = current_app.config
    deadline = utcnow() - timedelta(seconds=config["STUCK_AFTER_SECONDS"])
    stuck = [image for image in db.session.scalars(
        sa.select(Image).where(Image.status.in_(Image.PENDING_STATUSES), Image.status_changed_at < deadline)
    ) if past_its_deadline(image, config)]
    requeue = []
    for image in stuck:
        if image.attempts >= config["MAX_PROCESSING_ATTEMPTS"]:
            image.set_status(
                Image.FAILED,
                error=f"Processing did not finish after {image.attempts} attempts; the file may be too large "
                "or a worker kept stopping. Use Reprocess to try again.",
            )
        else:
            image.status_changed_at = utcnow()
            requeue.append(image.id)
    db.session.commit()
    for image in stuck:
        if image.status == Image.FAILED:
            queue_notification(image.id)
    for image in stuck:
        if image.id in requeue:
            send_to_workers(image.id, image.file_size, config)
    unsent = [image_id for image_id in unsent_notifications(deadline) if queue_notification(image_id)]
    return {"requeued": requeue, "failed": [i.id for i in stuck if i.status == Image.FAILED], "unsent": unsent}


def past_its_deadline(image, config):
    """Whether the image has waited longer than a run over its file may take."""
    return image.status_changed_at < utcnow() - timedelta(seconds=stuck_after_seconds(image.file_size, config))


def unsent_notifications(deadline):
    """Final images whose email was never sent though they finished before the deadline (within a day).

    The email task is queued once, after the result is committed; if the broker was down at that moment,
    this finds the image again. A failing mail server keeps its own retries going (its marker is fresh),
    hence the deadline and the marker: the sweep never starts a second task beside a running one.
    """
    silent_since = utcnow() - notify_task_silence()
    return db.session.scalars(
        sa.select(Image.id).where(
            Image.status.in_(Image.FINAL_STATUSES),
            Image.uploader_id.is_not(None),
            sa.or_(Image.notified_status.is_(None), Image.notified_status != Image.status),
            sa.or_(Image.notify_queued_at.is_(None), Image.notify_queued_at < silent_since),
            Image.status_changed_at < deadline,
            Image.status_changed_at > utcnow() - timedelta(days=1),
        )
    ).all()


@shared_task
def expire_partial_uploads():
    """Forget resumable uploads past their expiry (the rows and the partial bytes they kept on disk),
    and the staging files and quota reservations that a web or worker process left behind when it died."""
    expired = db.session.scalars(sa.select(Upload).where(Upload.expires_at < utcnow())).all()
    keys = [upload.storage_key for upload in expired]
    for upload in expired:
        db.session.delete(upload)
    db.session.commit()
    storage = get_storage()
    for key in keys:
        storage.delete(key)
    stale = storage.remove_stale_staging_files(current_app.config["STALE_STAGING_HOURS"] * 3600)
    return {"expired": len(keys), "stale_staging_files": stale, "stale_reservations": forget_stale_reservations()}


@shared_task
def expire_similarity_searches():
    """Forget searches by file past ``SIMILAR_SEARCH_KEEP_MINUTES`` (and any file a worker never read)."""
    from webapp.similarity.by_file import expire_searches

    return expire_searches()
