"""Users, roles and API tokens."""

import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_security import RoleMixin, UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import NEVER_REUSED_IDS, UTCDateTime, hash_token, utcnow

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
    #: One email per map instead of one per batch of files sent together (the profile's preference).
    email_per_file: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
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
        from .images import Image  # images import collections, which name users

        return db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Image.file_size), 0)).where(Image.uploader_id == self.id)
        )

    def pending_image_count(self):
        """How many of this user's images still wait for a worker, for the per-user queue limit."""
        from .images import Image

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
        """The live token matching a presented secret, or None; its user comes in the same query (every caller
        checks that the user is active: a second round trip on every token request otherwise)."""
        if not secret:
            return None
        return db.session.scalar(
            sa.select(cls).where(cls.token_hash == hash_token(secret), cls.revoked_at.is_(None))
            .options(sa.orm.joinedload(cls.user))
        )
