"""The database: users and their tokens, collections, images and what the workers make of them.

The ``Image`` row is the source of truth for an upload's state; a queue message
only says "look at image N". Queries shared by several blueprints live here as
class methods so that blueprints never import each other. One module per room
(``accounts``, ``collections``, ``images``, ``uploads``), ``base`` for what they share;
everything is importable from ``webapp.models`` as before.
"""

from ..extensions import db
from ..searchindex import init_search_index
from .accounts import ApiToken, Role, User, roles_users
from .base import (
    NEVER_REUSED_IDS,
    SHARE_TOKEN_SHAPE,
    CollectionMetadata,
    ImageMetadata,
    UTCDateTime,
    hash_token,
    pair_keys,
    render_migration_type,
    share_token_or_none,
    utcnow,
)
from .collections import Collection
from .images import LISTED, UNPUBLISHED, Artifact, Image, ImageRegion, ImageStats
from .uploads import Batch, QuotaReservation, Report, SimilaritySearch, SimilarityVector, Upload

init_search_index(db.metadata)

__all__ = [
    "NEVER_REUSED_IDS", "SHARE_TOKEN_SHAPE", "LISTED", "UNPUBLISHED", "ApiToken", "Artifact", "Batch", "Collection",
    "CollectionMetadata", "Image", "ImageMetadata", "ImageRegion", "ImageStats", "QuotaReservation", "Report", "Role",
    "SimilaritySearch", "SimilarityVector", "UTCDateTime", "Upload", "User", "hash_token", "pair_keys",
    "render_migration_type", "roles_users", "share_token_or_none", "utcnow",
]
