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

import sqlalchemy as sa
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from flask import current_app
from PIL import Image as Picture
from sqlalchemy.exc import DBAPIError, OperationalError

from webapp.email import is_permanent_failure, send_email
from webapp.extensions import celery, db, get_storage
from webapp.models import Artifact, Image, ImageRegion, ImageStats, SimilaritySearch, SimilarityVector, Upload, utcnow
from webapp.quota import forget_stale_reservations
from webapp.regions import region_rows
from webapp.securitymail import send_instructions
from webapp.storage import artifact_key

from . import copies, nifti, series, similarity
from .notify import send_outcome_email

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, DBAPIError, ConnectionError, TimeoutError)
RETRY_BACKOFF_SECONDS = (2, 5, 15, 30, 60)
MAIL_RETRY_MAX_COUNTDOWN = 300


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


def analyse(path, config, map_type=None, volumes_sink=None):
    """Run the pure steps on a local file in one streaming pass: the report, the statistics, the thumbnails
    and the viewer's files (volumes served one by one go to ``volumes_sink``).

    The thumbnails follow the map type (threshold, outlines or labels) and
    the statistics' verdict on MNI space (anatomy behind the slices).
    """
    result = series.analyse(
        path,
        max_decompressed_bytes=config["MAX_DECOMPRESSED_BYTES"],
        max_array_bytes=config["MAX_ARRAY_BYTES"],
        map_type=map_type,
        viewer_budget=config["VIEWER_BUDGET_BYTES"],
        volumes_sink=volumes_sink,
    )
    return result.report, result.numbers, result.pictures, result.files, result.vector


def store_pictures(image_id, pictures):
    """Put each thumbnail under its deterministic key; returns (kind, stored object, size in pixels)."""
    storage = get_storage()
    stored = []
    for kind, png in pictures.items():
        obj = storage.put_bytes(artifact_key(image_id, kind), png)
        with Picture.open(io.BytesIO(png)) as picture:
            stored.append((kind, obj, picture.size))
    return stored


BINARY_FILE = ("bin", "application/octet-stream")
FILE_TYPES = {"volume_index": BINARY_FILE, "volume_header": BINARY_FILE}
NIFTI_FILE = ("nii.gz", "application/gzip")


def store_copies(image_id, path, results, volumes):
    """Derived files the web tier serves as they are: the viewer's copies, the volumes served one by one
    (``volumes``, the staging file they were written to), the gzipped copy of an uncompressed upload
    (decision 0009). Returns (kind, stored object, content type) for each.
    """
    report, numbers, _pictures, files, _vector = results
    storage = get_storage()
    stored = []
    for kind, data in files.items():
        extension, content_type = FILE_TYPES.get(kind, NIFTI_FILE)
        stored.append((kind, storage.put_bytes(artifact_key(image_id, kind, extension), data), content_type))
    if "volume_index" in files:
        stored.append(("volumes", commit_replacing(volumes, artifact_key(image_id, "volumes", "bin")),
                       "application/octet-stream"))
    if not report.get("compressed"):
        with storage.staging_file() as staged:
            copies.write_gzip_copy(path, staged)
            stored.append(("gzip", commit_replacing(staged, artifact_key(image_id, "gzip", "nii.gz")),
                           "application/gzip"))
    return stored


def commit_replacing(staged, key):
    """Commit a staging file under a key, replacing what a previous run stored there (commit never overwrites)."""
    storage = get_storage()
    storage.delete(key)
    return storage.commit(staged, key)


def still_claimed(image, storage_key):
    """Whether the locked row is still the upload this run claimed and still waits for a result.

    The storage key is unique to one upload: a row that was deleted, or (on a database that
    once reused ids) replaced by another upload, never receives this run's results.
    """
    return image is not None and not image.is_final and (storage_key is None or image.storage_key == storage_key)


def store_vector(image_id, vector):
    """Put the similarity vector under its deterministic key (or remove an earlier one); the stored object or None."""
    storage = get_storage()
    key = artifact_key(image_id, "similarity", "npy")
    if vector is None:
        storage.delete(key)
        return None
    return storage.put_bytes(key, similarity.vector_bytes(vector))


def vector_files(stored_vector):
    """The stored vector as a (kind, object, detail) entry, for cleaning up after a deleted image."""
    return [] if stored_vector is None else [("similarity", stored_vector, None)]


def add_vector_rows(image_id, stored_vector, n_voxels):
    """The vector's artifact and its row in the index's change feed (replacing the image's earlier row)."""
    db.session.execute(sa.delete(SimilarityVector).where(SimilarityVector.image_id == image_id))
    if stored_vector is None:
        return
    db.session.add(Artifact(image_id=image_id, kind="similarity", storage_key=stored_vector.key,
                            content_type="application/x-npy", size=stored_vector.size))
    db.session.add(SimilarityVector(image_id=image_id, storage_key=stored_vector.key, n_voxels=n_voxels))


def write_results(image_id, report, numbers, stored_pictures, stored_files=(), storage_key=None,
                  stored_vector=None):
    """Every result in one transaction; False when another run already finished the image or it is gone."""
    image = db.session.get(Image, image_id, with_for_update=True)
    if not still_claimed(image, storage_key):
        db.session.rollback()
        return False
    db.session.execute(sa.delete(Artifact).where(Artifact.image_id == image_id))
    db.session.execute(sa.delete(ImageStats).where(ImageStats.image_id == image_id))
    for kind, obj, (width, height) in stored_pictures:
        db.session.add(
            Artifact(image_id=image_id, kind=kind, storage_key=obj.key, width=width, height=height, size=obj.size)
        )
    for kind, obj, content_type in stored_files:
        db.session.add(Artifact(image_id=image_id, kind=kind, storage_key=obj.key, content_type=content_type,
                                size=obj.size))
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
    add_vector_rows(image_id, stored_vector, (numbers.get("similarity") or {}).get("n_voxels") or 0)
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


def write_failure(image_id, reason, report=None, storage_key=None):
    """Mark the image failed with its reason; False when another run already finished it or it is gone."""
    db.session.rollback()
    image = db.session.get(Image, image_id, with_for_update=True)
    if not still_claimed(image, storage_key):
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


def outcome_of(image_id, path, map_type=None, volumes_sink=None):
    """Process a local copy of the upload; returns ('ready', results) or ('failed', reason, report)."""
    config = current_app.config
    try:
        return ("ready", analyse(path, config, map_type, volumes_sink))
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
    storage_key = None
    try:
        image = claim(image_id)
        if image is None:
            return None
        storage_key = image.storage_key
        try:
            storage = get_storage()
            with storage.local_path(storage_key) as path, storage.staging_file() as volumes:
                outcome = outcome_of(image_id, path, image.map_type, volumes)
                files = store_copies(image_id, path, outcome[1], volumes) if outcome[0] == "ready" else []
        except FileNotFoundError:
            outcome = ("failed", "The uploaded file is missing from storage; please upload it again.", None)
        if outcome[0] == "ready":
            report, numbers, pictures, _files, vector = outcome[1]
            stored = store_pictures(image_id, pictures)
            stored_vector = store_vector(image_id, vector)
            finished = write_results(image_id, report, numbers, stored, files, storage_key, stored_vector)
            if not finished:
                drop_pictures_of_deleted_image(image_id, [*stored, *files, *vector_files(stored_vector)])
        else:
            finished = write_failure(image_id, outcome[1], outcome[2], storage_key)
    except TRANSIENT_ERRORS as exc:
        db.session.rollback()
        if self.request.retries >= self.max_retries:
            log.exception("image %s: giving up after %s retries", image_id, self.request.retries)
            give_up(image_id, "A temporary problem on our side (database or storage) kept this image from "
                              "being processed; use Reprocess to try again.", storage_key)
            return "failed"
        raise self.retry(exc=exc, countdown=RETRY_BACKOFF_SECONDS[self.request.retries]) from exc
    except OSError as exc:
        db.session.rollback()
        if self.request.retries >= self.max_retries:
            give_up(image_id, "The stored file could not be read; use Reprocess to try again.", storage_key)
            return "failed"
        raise self.retry(exc=exc, countdown=RETRY_BACKOFF_SECONDS[self.request.retries]) from exc
    except Exception:
        db.session.rollback()
        log.exception("image %s: unexpected error", image_id)
        give_up(image_id, "An unexpected error happened while processing this image; it has been logged.", storage_key)
        return "failed"
    if finished:
        queue_notification(image_id)
    image = db.session.get(Image, image_id)
    return image.status if image is not None else None


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


def drop_pictures_of_deleted_image(image_id, stored_pictures):
    """Remove the thumbnails this run stored when its image was deleted meanwhile (nothing else would).

    A row that still exists keeps them: its own run wrote the same deterministic keys.
    """
    db.session.rollback()
    if db.session.get(Image, image_id) is None:
        storage = get_storage()
        for _kind, obj, _detail in stored_pictures:
            storage.delete(obj.key)


def give_up(image_id, reason, storage_key=None):
    """Fail the image without raising again; a broken database here is left to the sweep."""
    try:
        if write_failure(image_id, reason, storage_key=storage_key):
            queue_notification(image_id)
    except Exception:
        db.session.rollback()
        log.exception("image %s: could not record the failure; the sweep will", image_id)


@celery.task(bind=True, acks_late=True, max_retries=None)
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
        send_outcome_email(image)
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


@celery.task(bind=True, acks_late=True, max_retries=None)
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
    unsent = [image_id for image_id in unsent_notifications(deadline) if queue_notification(image_id)]
    return {"requeued": requeue, "failed": [i.id for i in stuck if i.status == Image.FAILED], "unsent": unsent}


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


@celery.task
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


@celery.task(acks_late=True)
def send_account_instructions(kind, email):
    """Reset or confirmation instructions for an address, if it has an account (the request never looks)."""
    return send_instructions(kind, email)


@celery.task(bind=True, acks_late=True, max_retries=None)
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


def searched_vector(path, config):
    """A searched file's vector, with the upload's checks; (vector, None) or (None, the reason there is none)."""
    try:
        representation = series.first_volume_representation(
            path, max_decompressed_bytes=config["MAX_DECOMPRESSED_BYTES"], max_array_bytes=config["MAX_ARRAY_BYTES"])
    except nifti.InvalidNifti as exc:
        return None, str(exc)
    except SoftTimeLimitExceeded:
        return None, f"Processing took longer than the {config['PROCESSING_SOFT_TIME_LIMIT']} s allowed."
    except MemoryError:
        return None, "The file needs more memory than a worker may use; it is too large to search with."
    return representation.values, representation.reason


@celery.task(acks_late=True)
def search_by_file(search_id):
    """Answer a search by file: read the file, delete it, rank the public maps; the vector is never stored."""
    from webapp.similarity.by_file import delete_search_file
    from webapp.similarity.search import similar_to_vector

    search = db.session.get(SimilaritySearch, search_id)
    if search is None or search.status != SimilaritySearch.PENDING:
        return None
    try:
        with get_storage().local_path(search.storage_key) as path:
            vector, reason = searched_vector(path, current_app.config)
    except FileNotFoundError:
        vector, reason = None, "The file is missing from storage; please search again."
    finally:
        delete_search_file(search)
        db.session.commit()
    if vector is not None:
        answer = similar_to_vector(vector, None)
        search.results = [[image_id, round(r, 6)] for image_id, r in answer.matches]
    search.status = SimilaritySearch.READY if vector is not None else SimilaritySearch.FAILED
    search.error = reason if vector is None else None
    search.finished_at = utcnow()
    db.session.commit()
    return search.status


@celery.task
def expire_similarity_searches():
    """Forget searches by file past ``SIMILAR_SEARCH_KEEP_MINUTES`` (and any file a worker never read)."""
    from webapp.similarity.by_file import expire_searches

    return expire_searches()
