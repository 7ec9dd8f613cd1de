"""The database: users and their tokens, collections, images and what the workers make of them.

The ``Image`` row is the source of truth for an upload's state; a queue message
only says "look at image N". Queries shared by several blueprints live here as
class methods so that blueprints never import each other.
"""

import hashlib
import re
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from flask_security import RoleMixin, UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db

#: Share tokens are ``secrets.token_urlsafe`` strings that fit the 64-character column.
SHARE_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def utcnow():
    """Aware UTC now, for every timestamp column."""
    return datetime.now(UTC)


#: Ids that appear in URLs, the API or storage keys are never handed out twice: SQLite's AUTOINCREMENT
#: (PostgreSQL's sequences never go back), so a stale worker or link can never reach a newer row.
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}


def hash_token(token):
    """The stored form of a secret token: its SHA-256, so a database leak reveals no usable token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp that comes back timezone-aware on SQLite as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def render_migration_type(type_, obj, autogen_context):
    """Write our timestamp type into migrations as the plain column type it stores."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


roles_users = sa.Table(
    "roles_users",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role_id", sa.ForeignKey("role.id", ondelete="CASCADE"), primary_key=True),
)


class Role(db.Model, RoleMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    description: Mapped[str | None] = mapped_column(sa.String(255))


class User(db.Model, UserMixin):
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255), unique=True)
    username: Mapped[str | None] = mapped_column(sa.String(80))
    #: The name shown to others, chosen at registration or on the profile; never derived from the email.
    public_name: Mapped[str | None] = mapped_column(sa.String(80))
    password: Mapped[str | None] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    fs_uniquifier: Mapped[str] = mapped_column(sa.String(64), unique=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Per-user limits set by an administrator; None means the site default (``webapp/limits.py``).
    quota_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    max_pending_images: Mapped[int | None] = mapped_column()
    roles = relationship("Role", secondary=roles_users, backref=sa.orm.backref("users", lazy="dynamic"))
    collections = relationship("Collection", back_populates="owner", lazy="dynamic")
    tokens = relationship("ApiToken", back_populates="user", lazy="dynamic", cascade="all, delete-orphan")

    @property
    def display_name(self):
        """What the site shows others for a user: the chosen name, else a neutral one from the id.

        The email (even its local part) is shown only to its owner and to admins (issue 21).
        """
        return self.public_name or f"user {self.id}"

    @property
    def is_admin(self):
        return self.has_role("admin")

    def bytes_stored(self):
        """Total size of this user's uploads, for the quota."""
        return db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Image.file_size), 0)).where(Image.uploader_id == self.id)
        )

    def pending_image_count(self):
        """How many of this user's images still wait for a worker, for the per-user queue limit."""
        return db.session.scalar(
            sa.select(sa.func.count(Image.id)).where(
                Image.uploader_id == self.id, Image.status.in_(Image.PENDING_STATUSES)
            )
        )


class ApiToken(db.Model):
    """An API token: shown once when made, stored only as its hash, revocable."""

    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user = relationship("User", back_populates="tokens")

    @classmethod
    def issue(cls, user, name="API token"):
        """A new token row for the user, and the secret itself (which is never stored)."""
        secret = secrets.token_hex(20)
        token = cls(user=user, name=name[:100], token_hash=hash_token(secret), prefix=secret[:8])
        db.session.add(token)
        return token, secret

    @classmethod
    def find_active(cls, secret):
        """The live token matching a presented secret, or None."""
        if not secret:
            return None
        return db.session.scalar(
            sa.select(cls).where(cls.token_hash == hash_token(secret), cls.revoked_at.is_(None))
        )


class Collection(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    authors: Mapped[str] = mapped_column(sa.Text, default="")
    doi: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    paper_url: Mapped[str | None] = mapped_column(sa.String(500))
    journal_name: Mapped[str | None] = mapped_column(sa.String(200))
    full_dataset_url: Mapped[str | None] = mapped_column(sa.String(500))
    private: Mapped[bool] = mapped_column(default=False)
    share_token: Mapped[str] = mapped_column(sa.String(64), unique=True, default=lambda: secrets.token_urlsafe(24))
    extra: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    unpublished_reason: Mapped[str | None] = mapped_column(sa.Text)
    image_count: Mapped[int] = mapped_column(default=0)
    add_date: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    modify_date: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    owner = relationship("User", back_populates="collections")
    images = relationship(
        "Image", back_populates="collection", lazy="dynamic", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (sa.Index("ix_collection_private_add_date", "private", "add_date"), NEVER_REUSED_IDS)

    def visible_to(self, user, share_token=None):
        """Whether this user (or the holder of the share link) may see the collection at all.

        A collection an administrator unpublished is seen by its owner and the administrators only.
        """
        if self.unpublished_reason is not None:
            return self.editable_by(user)
        if not self.private:
            return True
        if share_token and secrets.compare_digest(share_token, self.share_token):
            return True
        return bool(user and user.is_authenticated and (user.id == self.owner_id or user.is_admin))

    def editable_by(self, user):
        return bool(user and user.is_authenticated and (user.id == self.owner_id or user.is_admin))

    @classmethod
    def public_query(cls):
        return sa.select(cls).where(cls.private.is_(False), cls.unpublished_reason.is_(None))

    @classmethod
    def doi_taken(cls, doi, other_than=None):
        """Whether a collection other than ``other_than`` already has this DOI (DOIs are unique, as on NeuroVault)."""
        if not doi:
            return False
        query = sa.select(cls.id).where(cls.doi == doi)
        if other_than is not None and other_than.id is not None:
            query = query.where(cls.id != other_than.id)
        return db.session.scalar(query) is not None

    def stored_keys(self):
        """Every storage key of the collection's images and of its unfinished resumable uploads.

        To remove after the rows are gone; the uploads' rows go with the collection, and nothing
        else would ever find their partial bytes again (keys of finished uploads no longer exist
        and deleting them is a no-op).
        """
        artifacts = sa.select(Artifact.storage_key).join(Image, Artifact.image_id == Image.id)
        return [
            *db.session.scalars(sa.select(Image.storage_key).where(Image.collection_id == self.id)),
            *db.session.scalars(artifacts.where(Image.collection_id == self.id)),
            *db.session.scalars(sa.select(Upload.storage_key).where(Upload.collection_id == self.id)),
        ]

    @classmethod
    def by_share_token(cls, token):
        """The collection of a share link; None for anything that cannot be one (NUL bytes break PostgreSQL)."""
        if not token or not SHARE_TOKEN_SHAPE.fullmatch(token):
            return None
        return db.session.scalar(sa.select(cls).where(cls.share_token == token))

    def refresh_image_count(self):
        """Store the number of images, so list pages need no count per row."""
        self.image_count = db.session.scalar(
            sa.select(sa.func.count(Image.id)).where(Image.collection_id == self.id)
        )


class Image(db.Model):
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
        """Every storage key that belongs to this image: the original and its derived files."""
        return [self.storage_key, *(artifact.storage_key for artifact in self.artifacts)]

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
        unfinished = (
            sa.select(sa.func.count(cls.id))
            .join(Collection, cls.collection_id == Collection.id)
            .where(
                sa.or_(cls.status.in_([s for s in cls.STATUSES if s != cls.READY]), cls.unpublished_reason.isnot(None)),
                Collection.private.is_(False),
                Collection.unpublished_reason.is_(None),
            )
        )
        return db.session.scalar(sa.select(stored.scalar_subquery() - unfinished.scalar_subquery()))


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
    for the page that asked, then the row goes too (``workers.tasks.expire_similarity_searches``).
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
