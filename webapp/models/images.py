"""Images and what the workers make of them: statistics, artifacts, labelled regions."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import NEVER_REUSED_IDS, ImageMetadata, UTCDateTime, pair_keys, utcnow
from .collections import Collection

#: The images a public list may show, whatever their collection: the partial index's condition.
LISTED = "status = 'ready' AND unpublished_reason IS NULL"
UNPUBLISHED = "unpublished_reason IS NOT NULL"


class Image(ImageMetadata, db.Model):
    UPLOADED, QUEUED, PROCESSING, READY, FAILED = "uploaded", "queued", "processing", "ready", "failed"
    STATUSES = (UPLOADED, QUEUED, PROCESSING, READY, FAILED)
    PENDING_STATUSES = (UPLOADED, QUEUED, PROCESSING)
    FINAL_STATUSES = (READY, FAILED)

    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(sa.ForeignKey("collection.id", ondelete="CASCADE"))
    uploader_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    original_filename: Mapped[str] = mapped_column(sa.String(255), default="")
    map_type: Mapped[str] = mapped_column(sa.String(16), default="Other")
    modality: Mapped[str] = mapped_column(sa.String(64), default="Other")
    analysis_level: Mapped[str | None] = mapped_column(sa.String(16))
    target_template_image: Mapped[str] = mapped_column(sa.String(64), default="GenericMNI")
    number_of_subjects: Mapped[int | None] = mapped_column()
    extra: Mapped[dict] = mapped_column(sa.JSON, default=dict)

    storage_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    file_size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)

    status: Mapped[str] = mapped_column(sa.String(16), default=UPLOADED)
    error: Mapped[str | None] = mapped_column(sa.Text)
    report: Mapped[dict | None] = mapped_column(sa.JSON)
    attempts: Mapped[int] = mapped_column(default=0)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    processing_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The status whose email is settled: sent, or refused for good (an undeliverable address).
    notified_status: Mapped[str | None] = mapped_column(sa.String(16))
    #: Set when an administrator takes the map down: then only its collection's editors see it.
    unpublished_reason: Mapped[str | None] = mapped_column(sa.Text)
    #: When the outcome email's task was queued or last tried; while recent, no second task is started.
    notify_queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The files sent together with this one (an archive, one upload-page submission), for one email (issue 20).
    batch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("batch.id", ondelete="SET NULL"), index=True)

    is_thresholded: Mapped[bool] = mapped_column(default=False)
    not_mni: Mapped[bool] = mapped_column(default=False)
    perc_bad_voxels: Mapped[float | None] = mapped_column(sa.Float)
    brain_coverage: Mapped[float | None] = mapped_column(sa.Float)
    perc_voxels_outside: Mapped[float | None] = mapped_column(sa.Float)
    is_4d: Mapped[bool] = mapped_column(default=False)

    add_date: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    modify_date: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    collection = relationship("Collection", back_populates="images")
    uploader = relationship("User")
    stats = relationship("ImageStats", uselist=False, back_populates="image", cascade="all, delete-orphan")
    artifacts = relationship("Artifact", back_populates="image", cascade="all, delete-orphan")
    regions = relationship("ImageRegion", cascade="all, delete-orphan", passive_deletes=True)

    __table_args__ = (
        sa.Index("ix_image_collection_id_id", "collection_id", "id"),
        sa.Index("ix_image_status_status_changed_at", "status", "status_changed_at"),
        sa.Index("ix_image_add_date", "add_date"),
        # The public lists' ids with their collection, for an offset walked in the index alone (keyset.deferred_page).
        sa.Index("ix_image_listed_id", "id", "collection_id", postgresql_where=sa.text(LISTED),
                 sqlite_where=sa.text(LISTED)),
        sa.Index("ix_image_name_id", "name", "id"),  # keyset pages sorted by name
        # The listed images by collection, for a search's count read from the index alone (decision 0041).
        sa.Index("ix_image_listed_collection_id", "collection_id", "id", postgresql_where=sa.text(LISTED),
                 sqlite_where=sa.text(LISTED)),
        # The few unpublished images, for the lists' total (public_ready_count).
        sa.Index("ix_image_unpublished", "collection_id", postgresql_where=sa.text(UNPUBLISHED),
                 sqlite_where=sa.text(UNPUBLISHED)),
        NEVER_REUSED_IDS,
    )

    @property
    def is_valid(self):
        return self.status == self.READY

    @property
    def is_final(self):
        return self.status in self.FINAL_STATUSES

    def set_status(self, status, error=None):
        """Move to a status and stamp when it happened; the time columns show the image's history."""
        now = utcnow()
        self.status = status
        self.status_changed_at = now
        setattr(self, f"{status}_at", now)
        if status == self.FAILED:
            self.error = error
        elif status != self.READY:
            self.error = None

    @property
    def stored_keys(self):
        """Every storage key that belongs to this image: the original, its derived files, a converted pair's halves."""
        return [self.storage_key, *(artifact.storage_key for artifact in self.artifacts), *pair_keys(self.extra)]

    def artifact(self, kind):
        """The stored artifact of this kind (e.g. ``glass_brain``), or None."""
        return next((a for a in self.artifacts if a.kind == kind), None)

    def hidden_from(self, user):
        """Whether an administrator unpublished this map and the user may not edit its collection."""
        return self.unpublished_reason is not None and not self.collection.editable_by(user)

    @classmethod
    def public_query(cls):
        """Published images whose collection anyone may see."""
        return (
            sa.select(cls)
            .join(Collection, cls.collection_id == Collection.id)
            .where(Collection.private.is_(False), Collection.unpublished_reason.is_(None))
            .where(cls.unpublished_reason.is_(None))
        )

    @classmethod
    def public_ready_count(cls):
        """How many ready images public collections hold, exactly, without counting the image table.

        A COUNT over the join grows with the table (90 ms at 100,000 rows on PostgreSQL). The collections
        keep their ``image_count`` (refreshed whenever an image is added or deleted); subtracting the
        unfinished images, which are few and found through the status index, leaves the ready ones. The
        cost grows with the number of public collections and unfinished images, not with the images.
        """
        stored = sa.select(sa.func.coalesce(sa.func.sum(Collection.image_count), 0)).where(
            Collection.private.is_(False), Collection.unpublished_reason.is_(None)
        )
        def public_images_where(*conditions):
            return (
                sa.select(sa.func.count(cls.id))
                .join(Collection, cls.collection_id == Collection.id)
                .where(*conditions, Collection.private.is_(False), Collection.unpublished_reason.is_(None))
                .scalar_subquery()
            )

        # Two counts, each through its own index (an OR of the two conditions read the whole table).
        unfinished = public_images_where(cls.status.in_([s for s in cls.STATUSES if s != cls.READY]))
        unpublished = public_images_where(cls.status == cls.READY, cls.unpublished_reason.isnot(None))
        return db.session.scalar(sa.select(stored.scalar_subquery() - unfinished - unpublished))


class ImageStats(db.Model):
    """The numbers a worker computed from an image, kept whole as JSON with the headline ones as columns."""

    image_id: Mapped[int] = mapped_column(sa.ForeignKey("image.id", ondelete="CASCADE"), primary_key=True)
    min: Mapped[float | None] = mapped_column(sa.Float)
    max: Mapped[float | None] = mapped_column(sa.Float)
    mean: Mapped[float | None] = mapped_column(sa.Float)
    std: Mapped[float | None] = mapped_column(sa.Float)
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    image = relationship("Image", back_populates="stats")


class Artifact(db.Model):
    """A file derived from an image (a thumbnail), stored under a key made from the image and the kind."""

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(sa.ForeignKey("image.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    storage_key: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(64), default="image/png")
    width: Mapped[int | None] = mapped_column()
    height: Mapped[int | None] = mapped_column()
    size: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    image = relationship("Image", back_populates="artifacts")

    __table_args__ = (sa.UniqueConstraint("image_id", "kind", name="uq_artifact_image_id_kind"), NEVER_REUSED_IDS)


class ImageRegion(db.Model):
    """A region that a map's cluster table names (at a peak, or holding part of a cluster), for the region filter.

    One row per image, atlas and region: ``share`` is the largest share of any one cluster's voxels in it,
    ``at_peak`` whether a peak or sub-peak lies in it. The table itself stays in ``ImageStats.data``.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(sa.ForeignKey("image.id", ondelete="CASCADE"), index=True)
    atlas: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(128), index=True)
    share: Mapped[float] = mapped_column(sa.Float, default=0.0)
    at_peak: Mapped[bool] = mapped_column(default=False)
