"""Celery tasks: thin glue between the database, storage and the pure steps.

``process_image`` takes only an image id. It is idempotent (results are written
under deterministic keys and replace earlier ones), acknowledged late and
rejected back to the queue if its worker dies, retried with backoff on
transient errors (database, storage), and never retried on a bad file. Every
outcome ends in ``ready`` or ``failed`` with a sentence a researcher understands.
"""

import io
import logging
import resource
from datetime import timedelta

import numpy as np
import sqlalchemy as sa
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from flask import current_app
from PIL import Image as Picture
from sqlalchemy.exc import DBAPIError, OperationalError

from webapp.extensions import celery, db, get_storage
from webapp.models import Artifact, Image, ImageRegion, ImageStats, Upload, utcnow
from webapp.regions import region_rows
from webapp.storage import artifact_key

from . import clusters, nifti, render, stats
from .notify import send_outcome_email

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, DBAPIError, ConnectionError, TimeoutError)
RETRY_BACKOFF_SECONDS = (2, 5, 15, 30, 60)


class ProcessingFailed(Exception):
    """A reason to stop processing that the researcher should read as it is."""


@worker_process_init.connect
def limit_address_space(**_):
    """Cap each worker child's memory, so one hostile file ends in MemoryError, not in the OOM killer."""
    flask_app = getattr(celery, "flask_app", None)
    limit_mb = flask_app.config.get("WORKER_ADDRESS_SPACE_MB", 0) if flask_app else 0
    if limit_mb:
        limit = limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def claim(image_id):
    """Mark the image as being processed; None when it is gone or already final (a duplicate message)."""
    image = db.session.get(Image, image_id)
    if image is None or image.is_final:
        return None
    image.set_status(Image.PROCESSING)
    image.attempts += 1
    db.session.commit()
    return image


def analyse(path, config, map_type=None):
    """Run the pure steps on a local file: the report, the statistics, the cluster table and the thumbnails."""
    report, data = nifti.inspect_and_load(
        path,
        max_decompressed_bytes=config["MAX_DECOMPRESSED_BYTES"],
        max_array_bytes=config["MAX_ARRAY_BYTES"],
    )
    affine = np.asarray(report.affine, dtype=np.float64)
    numbers = stats.compute(data, affine)
    numbers.update(clusters.for_processed(data, affine, report, numbers, map_type))
    pictures = render.render_all(data, affine)
    return report.to_dict(), numbers, pictures


def store_pictures(image_id, pictures):
    """Put each thumbnail under its deterministic key; returns (kind, stored object, size in pixels)."""
    storage = get_storage()
    stored = []
    for kind, png in pictures.items():
        obj = storage.put_bytes(artifact_key(image_id, kind), png)
        with Picture.open(io.BytesIO(png)) as picture:
            stored.append((kind, obj, picture.size))
    return stored


def write_results(image_id, report, numbers, stored_pictures):
    """Every result in one transaction; False when another run already finished the image."""
    image = db.session.get(Image, image_id, with_for_update=True)
    if image is None or image.is_final:
        db.session.rollback()
        return False
    db.session.execute(sa.delete(Artifact).where(Artifact.image_id == image_id))
    db.session.execute(sa.delete(ImageStats).where(ImageStats.image_id == image_id))
    for kind, obj, (width, height) in stored_pictures:
        db.session.add(
            Artifact(image_id=image_id, kind=kind, storage_key=obj.key, width=width, height=height, size=obj.size)
        )
    db.session.add(
        ImageStats(
            image_id=image_id,
            min=numbers.get("min"),
            max=numbers.get("max"),
            mean=numbers.get("mean"),
            std=numbers.get("std"),
            data=numbers,
        )
    )
    replace_regions(image_id, numbers.get("clusters"))
    image.report = report
    image.is_thresholded = bool(numbers.get("is_thresholded"))
    image.not_mni = bool(numbers.get("not_mni"))
    image.perc_bad_voxels = numbers.get("perc_bad_voxels")
    image.brain_coverage = numbers.get("brain_coverage")
    image.perc_voxels_outside = numbers.get("perc_voxels_outside")
    image.is_4d = (numbers.get("n_volumes") or 1) > 1
    if image.map_type == "Other" and numbers.get("inferred_map_type") not in (None, "Other"):
        image.map_type = numbers["inferred_map_type"]
    image.set_status(Image.READY)
    db.session.commit()
    return True


def replace_regions(image_id, table):
    """The regions the new cluster table names replace the old ones (the region filter reads them)."""
    db.session.execute(sa.delete(ImageRegion).where(ImageRegion.image_id == image_id))
    for row in region_rows(table):
        db.session.add(ImageRegion(image_id=image_id, **row))


def write_failure(image_id, reason, report=None):
    """Mark the image failed with its reason; False when another run already finished it."""
    db.session.rollback()
    image = db.session.get(Image, image_id, with_for_update=True)
    if image is None or image.is_final:
        db.session.rollback()
        return False
    image.set_status(Image.FAILED, error=reason)
    image.report = report
    db.session.commit()
    return True


def failure_report(exc):
    """The validation report of a file that failed a check: what was noticed before, then what stopped it."""
    earlier = [finding.to_dict() for finding in getattr(exc, "findings", None) or []]
    stopped = {"field": exc.field, "value": str(exc.value), "level": "error", "message": str(exc)}
    return {"findings": [*earlier, stopped]}


def outcome_of(image_id, path, map_type=None):
    """Process a local copy of the upload; returns ('ready', results) or ('failed', reason, report)."""
    config = current_app.config
    try:
        return ("ready", analyse(path, config, map_type))
    except nifti.InvalidNifti as exc:
        if getattr(exc, "internal", False):
            log.warning("image %s: the reader failed unexpectedly", image_id, exc_info=exc.__cause__)
        return ("failed", str(exc), failure_report(exc))
    except SoftTimeLimitExceeded:
        limit = config["PROCESSING_SOFT_TIME_LIMIT"]
        return ("failed", f"Processing took longer than the {limit} s allowed; the file may be too large.", None)
    except MemoryError:
        return ("failed", "The image needs more memory than a worker may use; it is too large to process.", None)


@celery.task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=len(RETRY_BACKOFF_SECONDS))
def process_image(self, image_id):
    """Validate, measure and render one image, then email its uploader."""
    try:
        image = claim(image_id)
        if image is None:
            return None
        try:
            with get_storage().local_path(image.storage_key) as path:
                outcome = outcome_of(image_id, path, image.map_type)
        except FileNotFoundError:
            outcome = ("failed", "The uploaded file is missing from storage; please upload it again.", None)
        if outcome[0] == "ready":
            report, numbers, pictures = outcome[1]
            finished = write_results(image_id, report, numbers, store_pictures(image_id, pictures))
        else:
            finished = write_failure(image_id, outcome[1], outcome[2])
    except TRANSIENT_ERRORS as exc:
        db.session.rollback()
        if self.request.retries >= self.max_retries:
            log.exception("image %s: giving up after %s retries", image_id, self.request.retries)
            give_up(image_id, "A temporary problem on our side (database or storage) kept this image from "
                              "being processed; use Reprocess to try again.")
            return "failed"
        raise self.retry(exc=exc, countdown=RETRY_BACKOFF_SECONDS[self.request.retries]) from exc
    except OSError as exc:
        db.session.rollback()
        if self.request.retries >= self.max_retries:
            give_up(image_id, "The stored file could not be read; use Reprocess to try again.")
            return "failed"
        raise self.retry(exc=exc, countdown=RETRY_BACKOFF_SECONDS[self.request.retries]) from exc
    except Exception:
        db.session.rollback()
        log.exception("image %s: unexpected error", image_id)
        give_up(image_id, "An unexpected error happened while processing this image; it has been logged.")
        return "failed"
    if finished:
        queue_notification(image_id)
    return db.session.get(Image, image_id).status


def queue_notification(image_id):
    """Queue the outcome email; a broker that is down now is covered by the sweep's unsent-email pass."""
    try:
        notify_uploader.delay(image_id)
    except Exception:
        log.exception("image %s: could not queue the email; the sweep will", image_id)


def give_up(image_id, reason):
    """Fail the image without raising again; a broken database here is left to the sweep."""
    try:
        if write_failure(image_id, reason):
            queue_notification(image_id)
    except Exception:
        db.session.rollback()
        log.exception("image %s: could not record the failure; the sweep will", image_id)


@celery.task(bind=True, acks_late=True, max_retries=None)
def notify_uploader(self, image_id):
    """Email the uploader the outcome once; a mail failure is retried and never touches the image's state."""
    image = db.session.get(Image, image_id)
    if image is None or not image.is_final or image.notified_status == image.status or image.uploader is None:
        return False
    try:
        send_outcome_email(image)
    except Exception as exc:
        limit = current_app.config["MAIL_MAX_RETRIES"]
        if self.request.retries >= limit:
            log.error("image %s: giving up on the email after %s tries", image_id, limit)
            return False
        countdown = min(2 ** min(self.request.retries, 8), 300)
        raise self.retry(exc=exc, countdown=countdown) from exc
    db.session.execute(sa.update(Image).where(Image.id == image_id).values(notified_status=image.status))
    db.session.commit()
    return True


@celery.task
def sweep_stuck_images():
    """Re-queue images stuck before a final state past the deadline; fail them after too many attempts."""
    config = current_app.config
    deadline = utcnow() - timedelta(seconds=config["STUCK_AFTER_SECONDS"])
    stuck = db.session.scalars(
        sa.select(Image).where(Image.status.in_(Image.PENDING_STATUSES), Image.status_changed_at < deadline)
    ).all()
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
    for image_id in requeue:
        process_image.delay(image_id)
    unsent = unsent_notifications(deadline)
    for image_id in unsent:
        queue_notification(image_id)
    return {"requeued": requeue, "failed": [i.id for i in stuck if i.status == Image.FAILED], "unsent": unsent}


def unsent_notifications(deadline):
    """Final images whose email was never sent though they finished before the deadline (within a day).

    The email task is queued once, after the result is committed; if the broker was down at that moment,
    this finds the image again. A failing mail server keeps its own retries going, hence the deadline.
    """
    return db.session.scalars(
        sa.select(Image.id).where(
            Image.status.in_(Image.FINAL_STATUSES),
            Image.uploader_id.is_not(None),
            sa.or_(Image.notified_status.is_(None), Image.notified_status != Image.status),
            Image.status_changed_at < deadline,
            Image.status_changed_at > utcnow() - timedelta(days=1),
        )
    ).all()


@celery.task
def expire_partial_uploads():
    """Forget resumable uploads past their expiry (the rows and the partial bytes they kept on disk),
    and staging files that a web or worker process left behind when it died."""
    expired = db.session.scalars(sa.select(Upload).where(Upload.expires_at < utcnow())).all()
    keys = [upload.storage_key for upload in expired]
    for upload in expired:
        db.session.delete(upload)
    db.session.commit()
    storage = get_storage()
    for key in keys:
        storage.delete(key)
    stale = storage.remove_stale_staging_files(current_app.config["STALE_STAGING_HOURS"] * 3600)
    return {"expired": len(keys), "stale_staging_files": stale}
