"""Similar maps for the pages and the API: this process's index kept current, answers filtered by the database.

Every question first asks the database for the newest feed id (one primary-key lookup) and catches
the index up when it is behind, so a map is found as soon as its worker commits. The index holds
every vector, whoever may see it; the answer keeps only the maps the asker may see *now* (ready,
in a public collection, or in one of their own), which is what makes a deletion or a collection
made private take effect at once, on every host. The list holds the ``MAX_RESULTS`` most similar.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app

from workers import similarity

from ..extensions import db, get_storage
from ..models import Collection, Image, SimilarityVector
from .index import FeedRow, VectorIndex

MAX_RESULTS = 100
FEED_BATCH = 500
NOT_COMPARED = {"R", "Pa"}


@dataclass
class SimilarAnswer:
    """The maps most similar to one, best first, as (image id, r); or the reason there is no list."""

    matches: list[tuple[int, float]] = field(default_factory=list)
    undefined: int = 0
    reason: str | None = None


def app_index() -> VectorIndex:
    """This process's view of the index under ``SIMILARITY_INDEX_DIR``, made once."""
    index = current_app.extensions.get("similarity_index")
    if index is None:
        index = VectorIndex(current_app.config["SIMILARITY_INDEX_DIR"])
        current_app.extensions["similarity_index"] = index
    return index


def feed_after(last_id: int) -> list[FeedRow]:
    rows = db.session.execute(
        sa.select(SimilarityVector.id, SimilarityVector.image_id, SimilarityVector.storage_key)
        .where(SimilarityVector.id > last_id).order_by(SimilarityVector.id).limit(FEED_BATCH)
    ).all()
    return [FeedRow(*row) for row in rows]


def read_stored(key: str) -> bytes | None:
    try:
        with get_storage().open(key) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def current_index() -> VectorIndex:
    """The index with every vector the database lists (rebuilt if the database went back in time)."""
    index = app_index()
    index.refresh()
    newest = db.session.scalar(sa.select(sa.func.max(SimilarityVector.id))) or 0
    if newest < index.last_feed_id:
        index.wipe()
    if newest > index.last_feed_id:
        index.catch_up(feed_after, read_stored)
    return index


def visible_ids(image_ids, user, *, map_type=None, analysis_level=None) -> set[int]:
    """The ids among these that this user may be shown as similar maps now."""
    if not image_ids:
        return set()
    query = (
        sa.select(Image.id).join(Collection, Image.collection_id == Collection.id)
        .where(Image.id.in_([int(i) for i in image_ids]), Image.status == Image.READY,
               Image.not_mni.is_(False), Image.map_type.not_in(NOT_COMPARED))
    )
    if user is not None and getattr(user, "is_authenticated", False):
        query = query.where(sa.or_(Collection.private.is_(False), Collection.owner_id == user.id))
    else:
        query = query.where(Collection.private.is_(False))
    if map_type:
        query = query.where(Image.map_type == map_type)
    if analysis_level:
        query = query.where(Image.analysis_level == analysis_level)
    return set(db.session.scalars(query))


def similar_to_vector(vector, user, *, leave_out=None, map_type=None, analysis_level=None) -> SimilarAnswer:
    """The visible maps most similar to a vector, exactly ranked; the pool grows while too few are visible."""
    index = current_index()
    pool = current_app.config["SIMILAR_POOL"]
    while True:
        ranked = index.ranked_images(vector, pool, leave_out=leave_out)
        ids, undefined_ids = ranked.rows, ranked.undefined_rows
        visible = visible_ids([*ids.tolist(), *undefined_ids.tolist()], user, map_type=map_type,
                              analysis_level=analysis_level)
        matches = [(int(i), float(r)) for i, r in zip(ids, ranked.r, strict=True) if int(i) in visible]
        if len(matches) >= MAX_RESULTS or pool >= index.n_live or pool >= current_app.config["SIMILAR_MAX_POOL"]:
            break
        pool *= 4
    undefined = sum(1 for i in undefined_ids if int(i) in visible)
    return SimilarAnswer(matches[:MAX_RESULTS], undefined)


def no_list_reason(image) -> str | None:
    """Why this map has no similar maps listed, in words for its page; None when it has a vector."""
    if image.status != Image.READY:
        return "Similar maps are listed once the map is processed."
    reason = similarity.no_vector_reason(image.map_type, image.not_mni)
    if reason:
        return reason
    recorded = ((image.stats.data if image.stats else None) or {}).get("similarity") or {}
    if recorded.get("reason"):
        return recorded["reason"]
    return None


def similar_to_image(image, user, *, map_type=None, analysis_level=None) -> SimilarAnswer:
    """The maps most similar to a ready image that this user may see, or why there are none."""
    reason = no_list_reason(image)
    if reason:
        return SimilarAnswer(reason=reason)
    return similar_by_vector(image.id, user, map_type=map_type, analysis_level=analysis_level)


def similar_by_vector(image_id, user, *, map_type=None, analysis_level=None) -> SimilarAnswer:
    """The maps most similar to a ready image with no ``no_list_reason`` (the image page keeps that reason with
    its pieces, so it need not load the stats again): by its vector, or why it has none."""
    vector = current_index().vector_of(image_id)
    if vector is None:
        return SimilarAnswer(reason="This map was processed before similar maps were computed; "
                                    "its owner can reprocess it to compare it.")
    return similar_to_vector(vector, user, leave_out=image_id, map_type=map_type, analysis_level=analysis_level)


def images_by_id(image_ids, *options) -> dict[int, Image]:
    """The rows of these images (with the loader options), by id, in one query."""
    if not image_ids:
        return {}
    rows = db.session.scalars(sa.select(Image).where(Image.id.in_(list(image_ids))).options(*options)).unique()
    return {image.id: image for image in rows}

