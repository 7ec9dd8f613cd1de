"""Celery tasks: thin glue between the database, storage and the pure steps.

``process_image`` takes only an image id. It is idempotent (results are written
under deterministic keys and replace earlier ones), acknowledged late and
rejected back to the queue if its worker dies, retried with backoff on
transient errors (database, storage), and never retried on a bad file. Every
outcome ends in ``ready`` or ``failed`` with a sentence a researcher understands.
"""

import io
import logging

import sqlalchemy as sa
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app
from PIL import Image as Picture
from sqlalchemy.exc import DBAPIError, OperationalError

from webapp.extensions import db, get_storage
from webapp.inferred import apply_inferred
from webapp.models import Artifact, Image, ImageRegion, ImageStats, SimilaritySearch, SimilarityVector, utcnow
from webapp.regions import region_rows
from webapp.storage import artifact_key
from workers import copies, nifti, series, similarity

from .emails import queue_notification
from .timelimits import limit_of_current_run

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, DBAPIError, ConnectionError, TimeoutError)
RETRY_BACKOFF_SECONDS = (2, 5, 15, 30, 60)


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
FILE_TYPES = {"volume_index": BINARY_FILE, "volume_header": BINARY_FILE, "access_points": BINARY_FILE}
STAGED_WITH = {"volume_index": "volumes", "access_points": "access_windows"}  # what the staging file holds
NIFTI_FILE = ("nii.gz", "application/gzip")


def store_copies(image_id, path, results, volumes):
    """Derived files the web tier serves as they are: the viewer's copies, the volumes served one by one
    or the access points' windows (``volumes``, the staging file they were written to), the gzipped copy
    of an uncompressed upload (decision 0009). Returns (kind, stored object, content type) for each.
    """
    report, numbers, _pictures, files, _vector = results
    storage = get_storage()
    stored = []
    for kind, data in files.items():
        extension, content_type = FILE_TYPES.get(kind, NIFTI_FILE)
        stored.append((kind, storage.put_bytes(artifact_key(image_id, kind, extension), data), content_type))
    for index, staged in STAGED_WITH.items():
        if index in files:
            stored.append((staged, commit_replacing(volumes, artifact_key(image_id, staged, "bin")),
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
    earlier_keys = artifact_keys(image_id)
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
        take_inferred_map_type(image, numbers)
    image.set_status(Image.READY)
    db.session.commit()
    drop_leftovers(earlier_keys - artifact_keys(image_id))
    return True


#: Why a map uploaded as "Other" took the type its values suggest (the header's reason comes with the numbers).
VALUE_REASONS = {"R": "one value in every non-zero voxel (a mask)", "Pa": "whole-number labels (a parcellation)"}


def take_inferred_map_type(image, numbers):
    """Give an "Other" map the type its header or its values say, marked as inferred on its page."""
    map_type = numbers["inferred_map_type"]
    why = numbers.get("inferred_map_type_why") or VALUE_REASONS.get(map_type, "the map's values")
    apply_inferred(image, {"map_type": {"value": map_type, "why": why}})


def artifact_keys(image_id):
    """The storage keys of the image's artifacts as the database has them now."""
    return set(db.session.scalars(sa.select(Artifact.storage_key).where(Artifact.image_id == image_id)))


def drop_leftovers(keys):
    """Remove files of an earlier run that this run no longer makes (kinds it dropped, on-demand slices).

    After the commit, so a crash leaves an orphan file at worst, never a row without its file.
    """
    storage = get_storage()
    for key in keys:
        try:
            storage.delete(key)
        except OSError:
            log.warning("could not delete the leftover %s", key)


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


def drop_pictures_of_deleted_image(image_id, stored_pictures):
    """Remove the thumbnails this run stored when its image was deleted meanwhile (nothing else would).

    A row that still exists keeps them: its own run wrote the same deterministic keys.
    """
    db.session.rollback()
    if db.session.get(Image, image_id) is None:
        storage = get_storage()
        for _kind, obj, _detail in stored_pictures:
            storage.delete(obj.key)


def too_slow(config):
    """The reason given when the soft time limit stops a run, whichever step it was in: the run's own limit."""
    limit = limit_of_current_run(process_image.request, config)
    return f"Processing took longer than the {limit} s allowed for a file of this size; the file may be too large."


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
        return ("failed", too_slow(config), None)
    except MemoryError:
        return ("failed", "The image needs more memory than a worker may use; it is too large to process.", None)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=len(RETRY_BACKOFF_SECONDS))
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
    except SoftTimeLimitExceeded:
        db.session.rollback()
        log.warning("image %s: the soft time limit stopped it after the analysis", image_id)
        give_up(image_id, too_slow(current_app.config), storage_key)
        return "failed"
    except Exception:
        db.session.rollback()
        log.exception("image %s: unexpected error", image_id)
        give_up(image_id, "An unexpected error happened while processing this image; it has been logged.", storage_key)
        return "failed"
    if finished:
        queue_notification(image_id)
    image = db.session.get(Image, image_id)
    return image.status if image is not None else None


def give_up(image_id, reason, storage_key=None):
    """Fail the image without raising again; a broken database here is left to the sweep."""
    try:
        if write_failure(image_id, reason, storage_key=storage_key):
            queue_notification(image_id)
    except Exception:
        db.session.rollback()
        log.exception("image %s: could not record the failure; the sweep will", image_id)


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


@shared_task(acks_late=True)
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
