"""The storage quota, held while bytes arrive: reserve, then settle.

A user's usage is their images' bytes, plus the full length of their unfinished tus uploads, plus
the ``QuotaReservation`` rows of upload requests still reading their body. A request reserves
before it reads a byte: what its ``Content-Length`` says, or, for a chunked body of unknown
length, all that is left (up to the largest request). Its files may then hold no more than the
reservation, counted across all parts; when its images are added the reservation is deleted in
the same transaction, so usage never dips or doubles; a failed request deletes it at teardown.

Two requests of one user never decide at once: each first writes (the reservation row, or the
tus ``Upload`` row), which on SQLite takes the database's write lock until the commit, then locks
the user's row (``SELECT … FOR UPDATE``, on PostgreSQL), and only then sums the usage. So the
second sees the first's reservation, and concurrent uploads cannot together pass the quota.
"""

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, g

from .extensions import db
from .limits import quota_bytes_for
from .models import Batch, Image, QuotaReservation, Upload, User, utcnow


class QuotaFull(Exception):
    """Fewer bytes are free than the request needs; ``available`` says how many are."""

    def __init__(self, available):
        super().__init__(available)
        self.available = available


def reservations_count_since():
    """Reservations older than this belong to a process that died; they no longer count."""
    return utcnow() - timedelta(hours=current_app.config["STALE_STAGING_HOURS"])


def used_bytes(user_id, excluding_upload=None):
    """Bytes counted against the user's quota: images, requests in flight, unfinished tus uploads, and the
    archives and pair halves waiting for a worker (issue 20), until their batch is unpacked, stopped or swept."""
    images = sa.select(sa.func.coalesce(sa.func.sum(Image.file_size), 0)).where(Image.uploader_id == user_id)
    held = sa.select(sa.func.coalesce(sa.func.sum(QuotaReservation.bytes), 0)).where(
        QuotaReservation.user_id == user_id, QuotaReservation.created_at > reservations_count_since()
    )
    partial = sa.select(sa.func.coalesce(sa.func.sum(Upload.length), 0)).where(
        Upload.user_id == user_id, Upload.image_id.is_(None), Upload.expires_at > utcnow(), not_a_batch_source()
    )
    if excluding_upload is not None:
        partial = partial.where(Upload.id != excluding_upload)
    unpacking = sa.select(sa.func.coalesce(sa.func.sum(Batch.source_bytes), 0)).where(Batch.user_id == user_id)
    return db.session.scalar(sa.select(images.scalar_subquery() + held.scalar_subquery() + partial.scalar_subquery()
                                       + unpacking.scalar_subquery()))


def not_a_batch_source():
    """An upload that finished as a batch's source (an archive, a pair half) is counted by its batch, not twice."""
    return Upload.meta["batch_id"].as_string().is_(None)


def quota_of(user_id):
    """The user's quota in bytes: their own when an administrator set one, else the site's."""
    return quota_bytes_for(db.session.get(User, user_id))


def available_bytes(user_id, excluding_upload=None):
    return max(quota_of(user_id) - used_bytes(user_id, excluding_upload), 0)


def lock_user_quota(user_id):
    """Hold the user's row until the transaction ends (PostgreSQL; SQLite's write lock is already held).

    ``FOR NO KEY UPDATE``, not ``FOR UPDATE``: the caller has just inserted a row pointing at the user
    (an upload, a reservation), and PostgreSQL's foreign-key check holds the user's row ``FOR KEY
    SHARE`` until commit. Two uploads at once would each hold that share and each wait for the other's
    to end before a ``FOR UPDATE`` (a deadlock, answered 500). ``FOR NO KEY UPDATE`` waits only for
    another quota check, so the checks still take turns.
    """
    db.session.execute(sa.select(User.id).where(User.id == user_id).with_for_update(key_share=True))


def reserve(user_id, wanted, at_least):
    """Hold up to ``wanted`` bytes for this request (at least ``at_least``, else ``QuotaFull``); returns the bytes held.

    Any earlier transaction is committed first, so the reservation's INSERT is the new one's first
    statement (SQLite takes its write lock there, before the usage is read).
    """
    db.session.commit()
    reservation = QuotaReservation(user_id=user_id, bytes=0)
    db.session.add(reservation)
    db.session.flush()
    lock_user_quota(user_id)
    free = available_bytes(user_id)
    if free < at_least:
        db.session.rollback()
        raise QuotaFull(free)
    reservation.bytes = min(wanted, free)
    db.session.commit()
    g.quota_reservation_id = reservation.id
    return reservation.bytes


def settle():
    """Delete this request's reservation in the transaction that adds its images (the caller commits)."""
    reservation_id = g.pop("quota_reservation_id", None)
    if reservation_id is not None:
        db.session.execute(sa.delete(QuotaReservation).where(QuotaReservation.id == reservation_id))


def release_unsettled(_error=None):
    """At teardown: a request that failed after reserving gives its bytes back."""
    reservation_id = g.pop("quota_reservation_id", None)
    if reservation_id is None:
        return
    try:
        db.session.rollback()
        db.session.execute(sa.delete(QuotaReservation).where(QuotaReservation.id == reservation_id))
        db.session.commit()
    except Exception:  # it stops counting after STALE_STAGING_HOURS anyway
        db.session.rollback()
        current_app.logger.exception("quota reservation %s could not be released", reservation_id)


def forget_stale_reservations():
    """Delete the reservations that processes which died left behind (they no longer count); returns how many."""
    result = db.session.execute(
        sa.delete(QuotaReservation).where(QuotaReservation.created_at <= reservations_count_since())
    )
    db.session.commit()
    return result.rowcount


def commit_within_quota(user_id, excluding_upload=None):
    """Commit the row just added (a tus upload, counted by its length) unless the quota is then passed.

    The caller has flushed the row (its first write); raises ``QuotaFull`` after rolling back.
    """
    lock_user_quota(user_id)
    if used_bytes(user_id) > quota_of(user_id):
        free = available_bytes(user_id, excluding_upload)
        db.session.rollback()
        raise QuotaFull(free)
    db.session.commit()


def init_quota(app):
    app.teardown_request(release_unsettled)
