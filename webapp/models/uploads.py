"""Resumable uploads, quota reservations, reports, similarity vectors and searches, batches."""

import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import NEVER_REUSED_IDS, UTCDateTime, utcnow


class Upload(db.Model):
    """A resumable (tus) upload in progress: its offset is durable, so a web restart loses nothing acknowledged."""

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=lambda: secrets.token_hex(16))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    collection_id: Mapped[int] = mapped_column(sa.ForeignKey("collection.id", ondelete="CASCADE"), index=True)
    length: Mapped[int] = mapped_column(sa.BigInteger)
    offset: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    filename: Mapped[str] = mapped_column(sa.String(255), default="")
    meta: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    storage_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    image_id: Mapped[int | None] = mapped_column(sa.ForeignKey("image.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    user = relationship("User")
    collection = relationship("Collection")
    image = relationship("Image")


class Report(db.Model):
    """A signed-in visitor's report of a public map or collection, for an administrator to resolve."""

    REASONS = {
        "copyright": "Copyright or licence problem",
        "personal-data": "Contains personal or identifying data",
        "wrong": "Wrong or misleading data",
        "spam": "Spam or not a brain map",
        "other": "Something else",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    reporter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    collection_id: Mapped[int | None] = mapped_column(sa.ForeignKey("collection.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int | None] = mapped_column(sa.ForeignKey("image.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(sa.String(32))
    text: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    resolution: Mapped[str] = mapped_column(sa.Text, default="")
    reporter = relationship("User", foreign_keys=[reporter_id])
    resolved_by = relationship("User", foreign_keys=[resolved_by_id])
    collection = relationship("Collection")
    image = relationship("Image")


class QuotaReservation(db.Model):
    """Bytes of a user's quota held by an upload request while its body arrives (``webapp/quota.py``).

    Counted as used until the request settles it: deleted in the transaction that adds its images
    (which then count instead), or when the request fails. One left by a process that died stops
    counting after ``STALE_STAGING_HOURS`` (its staging files are gone by then too).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SimilarityVector(db.Model):
    """A map's similarity vector (stored as its ``similarity`` artifact), one row per vector made, in order.

    The rows are the similarity index's change feed (``webapp/similarity/index.py``): every copy of the
    index catches up by reading the rows past the last id it holds. ``sqlite_autoincrement`` keeps
    SQLite from reusing the id of a deleted row, which a copy would take for one it already has.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(sa.ForeignKey("image.id", ondelete="CASCADE"), index=True)
    storage_key: Mapped[str] = mapped_column(sa.String(255))
    n_voxels: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = ({"sqlite_autoincrement": True},)


class SimilaritySearch(db.Model):
    """A search by file: the file waits in storage for a worker, which keeps only the answer.

    The worker deletes the file as soon as it has read it; the map's vector lives in the worker's
    memory only; the answer (ids and r of the most similar maps) is kept ``SIMILAR_SEARCH_KEEP_MINUTES``
    for the page that asked, then the row goes too (``webapp.processing.upkeep.expire_similarity_searches``).
    """

    PENDING, READY, FAILED = "pending", "ready", "failed"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=lambda: secrets.token_hex(16))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    storage_key: Mapped[str | None] = mapped_column(sa.String(255))
    filename: Mapped[str] = mapped_column(sa.String(255), default="")
    status: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    error: Mapped[str | None] = mapped_column(sa.Text)
    results: Mapped[list | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Batch(db.Model):
    """Files sent together: one archive, one submission of the upload page, or resumable uploads the page grouped.

    An archive's (or a pair's) stored files wait in ``sources`` for the worker that unpacks them; ``outcomes``
    lists what became of each member (an image, or skipped with the reason); the uploader gets one email when
    the batch is ``closed`` (no more images will join it) and every image in it is final.
    """

    WAITING, UNPACKING, CLOSED = "waiting", "unpacking", "closed"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    collection_id: Mapped[int] = mapped_column(sa.ForeignKey("collection.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: The id the upload page gave a group of resumable uploads (unique per user).
    client_key: Mapped[str | None] = mapped_column(sa.String(64))
    #: How many files the page said the group holds (resumable uploads only).
    expected_files: Mapped[int | None] = mapped_column()
    filename: Mapped[str] = mapped_column(sa.String(255), default="")
    status: Mapped[str] = mapped_column(sa.String(16), default=WAITING)
    sources: Mapped[list] = mapped_column(sa.JSON, default=list)
    source_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    outcomes: Mapped[list] = mapped_column(sa.JSON, default=list)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user = relationship("User")
    collection = relationship("Collection")

    __table_args__ = (sa.UniqueConstraint("user_id", "client_key", name="uq_batch_user_id_client_key"),
                      NEVER_REUSED_IDS)
