"""Shared column types and helpers of the models: UTC datetimes, hashed tokens, share-token shape."""

import hashlib
import re
from datetime import UTC, datetime

import sqlalchemy as sa

from ..metadata import COLLECTION_FIELDS, IMAGE_FIELDS, metadata_mixin

#: Share tokens are ``secrets.token_urlsafe(24)`` strings (32 characters) that fit the 64-character column;
#: the one rule for pages and API: anything shorter than 16 or outside the URL-safe alphabet names nothing.
SHARE_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def share_token_or_none(text):
    """The text if it could be a share token (URL-safe, bounded); anything else can match no collection."""
    return text if text and SHARE_TOKEN_SHAPE.fullmatch(text) else None


def utcnow():
    """Aware UTC now, for every timestamp column."""
    return datetime.now(UTC)


#: Ids that appear in URLs, the API or storage keys are never handed out twice: SQLite's AUTOINCREMENT
#: (PostgreSQL's sequences never go back), so a stale worker or link can never reach a newer row.
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}


def hash_token(token):
    """The stored form of a secret token: its SHA-256, so a database leak reveals no usable token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


#: PostgreSQL's type OID of ``timestamp with time zone``, as psycopg reports it in a result's description.
TIMESTAMPTZ_OID = 1184


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

    def result_processor(self, dialect, coltype):
        """None for a PostgreSQL ``timestamptz`` result, which psycopg already hands back aware: no Python call
        per value (12 per image row of the API's list). Any other column type or database gets the check."""
        if dialect.name == "postgresql" and coltype == TIMESTAMPTZ_OID:
            return self.impl_instance.result_processor(dialect, coltype)
        return super().result_processor(dialect, coltype)


def pair_keys(extra):
    """The stored halves of the ``.hdr``/``.img`` pair an image was converted from (kept for download)."""
    pair = (extra or {}).get("original_pair") if isinstance(extra, dict) else None
    return [part["key"] for part in pair or [] if isinstance(part, dict) and part.get("key")]


def render_migration_type(type_, obj, autogen_context):
    """Write our timestamp type into migrations as the plain column type it stores."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


#: NeuroVault's metadata columns, generated from the field table in ``metadata.py``.
CollectionMetadata = metadata_mixin("CollectionMetadata", COLLECTION_FIELDS, UTCDateTime)
ImageMetadata = metadata_mixin("ImageMetadata", IMAGE_FIELDS, UTCDateTime)
