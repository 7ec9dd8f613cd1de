"""The worker job that turns a batch's stored files (archives, ``.hdr``/``.img`` halves) into images.

One job per batch: it walks each archive member by member (``workers/unpack.py``, within the site's bounds),
stores every NIfTI member under a key of its own, converts pairs (``workers/pairs.py``), fills in what the
names and JSON sidecars say (``workers/naming.py``), and adds each map to the collection as an ``uploaded``
image, committed and queued at once, so processing starts while the archive is still being read. A member that
fails is listed with its reason and the walk goes on. Each image row is committed with its outcome, so a job
that dies half-way is re-run by the sweep and skips what it already made. At the end the batch is closed, its
stored files deleted, and the one email queued (``webapp/processing/batch_email.py``).
"""

import json
import logging
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app
from sqlalchemy.exc import DBAPIError, OperationalError

from webapp import batches
from webapp.extensions import db, get_storage
from webapp.inferred import apply_inferred
from webapp.ingest import add_image
from webapp.models import Batch, Image, utcnow
from webapp.pipeline import queue_processing
from webapp.storage import new_key
from workers import naming, pairs, unpack

from .batch_email import queue_batch_email

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, DBAPIError, ConnectionError, TimeoutError)
RETRY_SECONDS = (5, 15, 60)
CHUNK_MEMBERS = 16
CHUNK_SECONDS = 1.0
CHUNK = 1024 * 1024


def bounds_from(config):
    """The archive bounds from the site's settings (one map's limit is the upload limit)."""
    return unpack.Bounds(
        max_members=config["ARCHIVE_MAX_MEMBERS"],
        max_total_bytes=config["ARCHIVE_MAX_INFLATED_BYTES"],
        max_member_bytes=min(config["MAX_UPLOAD_BYTES"], config["ARCHIVE_MAX_INFLATED_BYTES"]),
        max_ratio=config["ARCHIVE_MAX_RATIO"],
    )


def claim_batch(batch_id):
    """Take a waiting (or interrupted) batch; None when it is gone or already closed."""
    batch = db.session.get(Batch, batch_id, with_for_update={"key_share": True})
    if batch is None or batch.status == Batch.CLOSED:
        db.session.rollback()
        return None
    batch.status = Batch.UNPACKING
    db.session.commit()
    return batch


class Sheet:
    """The batch's outcomes while the job runs, written to the row once per chunk (not once per member)."""

    def __init__(self, outcomes):
        self.outcomes = list(outcomes or [])


class Importer:
    """The state of one job: where halves wait for their partner, the sidecars seen, the names already made.

    Images and outcomes are committed in chunks (``CHUNK_MEMBERS`` members or ``CHUNK_SECONDS``), then their
    images queued: one commit per member made the job slower than the processing it feeds.
    """

    def __init__(self, batch, workdir):
        self.batch = batch
        self.workdir = Path(workdir)
        self.config = current_app.config
        self.halves = {}
        self.sidecars = {}
        self.sheet = Sheet(batch.outcomes)
        self.done = {outcome.get("name") for outcome in self.sheet.outcomes}
        self.counter = 0
        self.made = {}
        self.unqueued = []
        self.since_commit = 0
        self.committed_at = time.monotonic()

    def settle(self, force=False):
        """Commit the chunk (images and outcomes) and queue its images, when it is full, old, or ``force``."""
        self.since_commit += 1
        if not force and self.since_commit < CHUNK_MEMBERS and time.monotonic() - self.committed_at < CHUNK_SECONDS:
            return
        self.batch.outcomes = list(self.sheet.outcomes)
        db.session.commit()
        queue_processing(self.unqueued)
        self.unqueued, self.since_commit, self.committed_at = [], 0, time.monotonic()

    def scratch(self, suffix):
        """A fresh file in the job's folder, never named after a member."""
        self.counter += 1
        return self.workdir / f"m{self.counter}{suffix}"

    # sources --------------------------------------------------------------------------------

    def take_source(self, source):
        """One stored file of the batch: an archive to walk, or a loose pair half."""
        try:
            with get_storage().local_path(source["key"]) as path:
                if unpack.is_archive_name(source["filename"]):
                    self.walk_archive(path)
                else:
                    with path.open("rb") as stream:
                        self.keep_half(source["filename"], stream)
        except FileNotFoundError:
            self.skip(source["filename"], "the uploaded file is missing from storage; please upload it again")
        except (unpack.MemberFailed, pairs.PairRefused) as exc:
            self.skip(source["filename"], str(exc))

    def walk_archive(self, path):
        try:
            for member in unpack.walk(path, bounds_from(self.config)):
                self.take_member(member)
        except unpack.ArchiveRefused as exc:
            self.batch.error = f"{self.batch.filename}: {exc}"
        self.settle(force=True)

    def take_member(self, member):
        if member.kind == "stopped":
            self.batch.error = member.reason
            return
        if member.name in self.done:
            return
        try:
            if member.kind == "map":
                self.add_map(member.name, member.stream)
            elif member.kind == "pair":
                self.keep_half(member.name, member.stream)
            elif member.kind == "sidecar":
                self.keep_sidecar(member)
            else:
                self.skip(member.name, member.reason)
        except (unpack.MemberFailed, pairs.PairRefused) as exc:
            self.skip(member.name, str(exc))

    # members --------------------------------------------------------------------------------

    def add_map(self, name, stream, notes=None, original_pair=None):
        """Store one map's bytes and add its image, committed and queued."""
        storage = get_storage()
        with storage.staging_file(max_bytes=self.config["MAX_UPLOAD_BYTES"]) as staged:
            while data := stream.read(CHUNK):
                staged.write(data)
            stored = storage.commit(staged, new_key("originals"))
        self.create_image(name, stored, notes, original_pair)

    def create_image(self, name, stored, notes=None, original_pair=None):
        fields = naming.infer_from_path(name)
        fields.update({key: value for key, value in self.sidecar_fields(name).items() if key not in fields})
        filename = name.rsplit("/", 1)[-1]
        if original_pair:
            filename = pairs.pair_stem(filename) + ".nii.gz"
        image = add_image(self.batch.collection, self.batch.user, stored, filename, batch_id=self.batch.id)
        apply_inferred(image, fields, sidecar=self.sidecars.get(naming.sidecar_path_for(name)))
        if notes or original_pair:
            image.extra = {**(image.extra or {}), **({"import_notes": notes} if notes else {}),
                           **({"original_pair": original_pair} if original_pair else {})}
        batches.record_image(self.sheet, name, image)
        self.made[naming.sidecar_path_for(name)] = image.id
        self.done.add(name)
        self.unqueued.append(image.id)
        self.settle()

    def sidecar_fields(self, name):
        fields, _kept = naming.from_sidecar(self.sidecars.get(naming.sidecar_path_for(name)))
        return fields

    def keep_sidecar(self, member):
        try:
            self.sidecars[member.name] = json.loads(unpack.read_all(member, unpack.Bounds().max_sidecar_bytes))
        except (ValueError, UnicodeDecodeError) as exc:
            self.skip(member.name, f"a JSON sidecar that is not valid JSON ({exc})")
            return
        self.done.add(member.name)
        if member.name in self.made:
            self.apply_late_sidecar(member.name)

    def apply_late_sidecar(self, sidecar_name):
        """A sidecar read after its map (archives list members in any order): fill in what is still inferred."""
        image = db.session.get(Image, self.made[sidecar_name])
        if image is not None:
            fields, _kept = naming.from_sidecar(self.sidecars[sidecar_name])
            apply_inferred(image, fields, typed=set(), sidecar=self.sidecars[sidecar_name])
        self.settle()

    def keep_half(self, name, stream):
        """Keep one half in the job's folder until its partner arrives; then convert the pair."""
        target = self.scratch(".gz" if name.lower().endswith(".gz") else "")
        limit = self.config["MAX_UPLOAD_BYTES"]
        written = 0
        with target.open("wb") as out:
            while data := stream.read(CHUNK):
                written += len(data)
                if written > limit:
                    raise pairs.PairRefused(f"it holds more than {limit:,} bytes (the limit for one map)")
                out.write(data)
        stem = pairs.pair_stem(name)
        halves = self.halves.setdefault(stem, {})
        halves[pairs.half_of(name)] = (name, target)
        if len(halves) == 2:
            self.convert(stem, self.halves.pop(stem))

    def convert(self, stem, halves):
        (hdr_name, hdr_path), (img_name, img_path) = halves["hdr"], halves["img"]
        out = self.scratch(".nii.gz")
        try:
            notes = pairs.convert_pair(hdr_path, img_path, out, workdir=self.workdir,
                                       max_decompressed_bytes=self.config["MAX_DECOMPRESSED_BYTES"],
                                       max_array_bytes=self.config["MAX_ARRAY_BYTES"])
            original = [self.keep_original(hdr_name, hdr_path), self.keep_original(img_name, img_path)]
            with out.open("rb") as stream:
                self.add_map(f"{stem}.img", stream, notes=notes, original_pair=original)
        except pairs.PairRefused as exc:
            self.skip(f"{stem}.hdr + .img", str(exc))
        finally:
            for path in (hdr_path, img_path, out):
                path.unlink(missing_ok=True)

    def keep_original(self, name, path):
        """Store one half as it came, so the original pair stays downloadable."""
        with path.open("rb") as stream:
            stored = get_storage().put_stream(new_key("originals"), stream)
        return {"filename": name.rsplit("/", 1)[-1], "key": stored.key, "size": stored.size}

    def finish(self):
        """Halves whose partner never came, and sidecars of no map, are listed as skipped."""
        for name in self.sidecars:
            if name not in self.made:
                self.skip(name, "a JSON file beside no map of the same name")
        for stem, halves in self.halves.items():
            missing = ".img" if "img" not in halves else ".hdr"
            name, _path = next(iter(halves.values()))
            self.skip(name, f"its {missing} was not found next to it (as {stem}{missing}): a pair needs both")

    def skip(self, name, reason):
        batches.record_skip(self.sheet, name, reason)
        self.done.add(name)
        self.settle()


def delete_sources(batch):
    """The archive and the loose halves are gone once their maps are images (their originals are kept)."""
    storage = get_storage()
    for source in batch.sources or []:
        storage.delete(source["key"])
    batch.sources = []
    batch.source_bytes = 0


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=len(RETRY_SECONDS))
def import_batch(self, batch_id):
    """Unpack a batch's archives and pairs into images of its collection, then close it."""
    batch = claim_batch(batch_id)
    if batch is None:
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="neurodrop-import-") as workdir:
            importer = Importer(batch, workdir)
            for source in list(batch.sources or []):
                importer.take_source(source)
            importer.finish()
            importer.settle(force=True)
        delete_sources(batch)
        batches.close(batch)
        db.session.commit()
    except TRANSIENT_ERRORS as exc:
        db.session.rollback()
        if self.request.retries >= self.max_retries:
            log.exception("batch %s: giving up after %s retries; the sweep will try again", batch_id, self.max_retries)
            return "unpacking"
        raise self.retry(exc=exc, countdown=RETRY_SECONDS[self.request.retries]) from exc
    except SoftTimeLimitExceeded:
        db.session.rollback()
        log.warning("batch %s: the time limit came first; a new job continues after the members already made",
                    batch_id)
        import_batch.delay(batch_id)
        return "unpacking"
    except Exception:
        db.session.rollback()
        log.exception("batch %s: unexpected error while unpacking", batch_id)
        close_after_error(batch_id)
    queue_batch_email(batch_id)
    return Batch.CLOSED


def close_after_error(batch_id):
    """Close a batch a bug stopped, saying so: its members made so far stay, its email still goes.

    Its stored files go too: a closed batch is never unpacked again, and they would count against the quota.
    """
    batch = db.session.get(Batch, batch_id)
    if batch is not None:
        batch.error = "An unexpected error stopped the unpacking; it has been logged. The maps listed were made."
        delete_sources(batch)
        batches.close(batch)
        db.session.commit()


@shared_task
def sweep_batches():
    """Re-queue batches whose job never ran or died, and close resumable groups whose last files never came.

    A group that holds halves is unpacked instead: their pairs are made, the lone ones listed as skipped, and
    the stored halves deleted (they stop counting against the quota).

    A job still unpacking is left alone until the task's hard time limit has surely ended it.
    """
    config = current_app.config
    deadline = utcnow() - timedelta(seconds=config["STUCK_AFTER_SECONDS"])
    dead = deadline - timedelta(seconds=config["PROCESSING_TIME_LIMIT"])
    never_taken = sa.and_(Batch.status == Batch.WAITING, Batch.kind != "tus", Batch.created_at < deadline)
    outlived = sa.and_(Batch.status == Batch.UNPACKING, Batch.created_at < dead)
    stuck = db.session.scalars(sa.select(Batch.id).where(sa.or_(never_taken, outlived))).all()
    for batch_id in stuck:
        import_batch.delay(batch_id)
    waited = utcnow() - timedelta(seconds=current_app.config["BATCH_WAIT_SECONDS"])
    groups = db.session.scalars(sa.select(Batch).where(
        Batch.status == Batch.WAITING, Batch.kind == "tus", Batch.created_at < waited)).all()
    to_unpack = [batch for batch in groups if batch.sources]
    to_close = [batch for batch in groups if not batch.sources]
    for batch in to_unpack:
        batch.kind = "form"
    for batch in to_close:
        batches.close(batch)
    db.session.commit()
    for batch in to_unpack:
        import_batch.delay(batch.id)
    for batch in to_close:
        queue_batch_email(batch.id)
    return {"requeued": stuck, "closed": [batch.id for batch in to_close],
            "unpacked": [batch.id for batch in to_unpack]}

