"""Collections: who owns them, their share links, their stored counts and metadata."""

import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import NEVER_REUSED_IDS, SHARE_TOKEN_SHAPE, CollectionMetadata, UTCDateTime, pair_keys, utcnow


class Collection(CollectionMetadata, db.Model):
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

    __table_args__ = (sa.Index("ix_collection_private_add_date", "private", "add_date"),
                      sa.Index("ix_collection_name_id", "name", "id"), NEVER_REUSED_IDS)  # keyset pages by name

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
        from .images import Artifact, Image  # the image module imports this one
        from .uploads import Batch, Upload

        artifacts = sa.select(Artifact.storage_key).join(Image, Artifact.image_id == Image.id)
        return [
            *db.session.scalars(sa.select(Image.storage_key).where(Image.collection_id == self.id)),
            *db.session.scalars(artifacts.where(Image.collection_id == self.id)),
            *db.session.scalars(sa.select(Upload.storage_key).where(Upload.collection_id == self.id)),
            *(key for extra in db.session.scalars(sa.select(Image.extra).where(Image.collection_id == self.id))
              for key in pair_keys(extra)),
            *(source["key"] for sources in db.session.scalars(sa.select(Batch.sources).where(
                Batch.collection_id == self.id)) for source in sources or []),
        ]

    @classmethod
    def by_share_token(cls, token):
        """The collection of a share link; None for anything that cannot be one (NUL bytes break PostgreSQL)."""
        if not token or not SHARE_TOKEN_SHAPE.fullmatch(token):
            return None
        return db.session.scalar(sa.select(cls).where(cls.share_token == token))

    def refresh_image_count(self):
        """Store the number of images, so list pages need no count per row."""
        from .images import Image  # the image module imports this one

        self.image_count = db.session.scalar(
            sa.select(sa.func.count(Image.id)).where(Image.collection_id == self.id)
        )
