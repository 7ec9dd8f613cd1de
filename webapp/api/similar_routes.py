"""Similar maps in the API: ``GET /api/images/<id>/similar/`` (limit/offset paging), ``POST /api/similar/``."""

from flask import request
from sqlalchemy.orm import joinedload

from ..models import Image, SimilaritySearch
from ..similarity.by_file import own_search_or_404, public_matches, search_limit, start_search
from ..similarity.search import images_by_id, similar_to_image
from ..urls import absolute_url
from ..vocab import ANALYSIS_LEVELS, MAP_TYPES
from . import bp
from .auth import api_user, check_session_csrf, defers_csrf, require_user
from .errors import field_error
from .image_routes import IMAGE_ID, SLASHLESS
from .lookup import visible_image
from .paging import page_link, page_window
from .serializers import collection_ref, share_args


def vocabulary_filter(name, allowed):
    """An optional query filter that must be one of the vocabulary's codes, else a 400 naming it."""
    value = request.args.get(name, "").strip()
    if value and value not in allowed:
        raise field_error(name, f'"{value[:50]}" is not a valid choice; use one of {", ".join(allowed)}.')
    return value or None


def similar_json(image, r):
    links = share_args(image.collection)
    return {
        "id": image.id,
        "name": image.name,
        "collection": collection_ref(image.collection),
        "collection_url": absolute_url("api.collection_detail", ref=collection_ref(image.collection)),
        "r": round(r, 6),
        "url": absolute_url("api.image_detail", image_id=image.id, **links),
        "html_url": absolute_url("images.detail", image_id=image.id),
        "thumbnail": absolute_url("api.image_thumbnail", image_id=image.id, **links),
    }


def matches_page(matches, extra):
    """One page of ranked (id, r) pairs in NeuroVault's paging shape, plus ``extra`` fields."""
    limit, offset = page_window()
    shown = matches[offset: offset + limit]
    rows = images_by_id([image_id for image_id, _ in shown], joinedload(Image.collection))
    total = len(matches)
    return {
        "count": total,
        "next": page_link(limit, offset + limit) if offset + limit < total else None,
        "previous": page_link(limit, max(offset - limit, 0)) if offset > 0 else None,
        "results": [similar_json(rows[image_id], r) for image_id, r in shown if image_id in rows],
        **extra,
    }


@bp.route(f"/images/{IMAGE_ID}/similar/", **SLASHLESS)
def image_similar(image_id):
    """The maps most similar to this one that the caller may see, best first (exact Pearson r)."""
    image = visible_image(image_id)
    answer = similar_to_image(image, api_user(), map_type=vocabulary_filter("map_type", MAP_TYPES),
                              analysis_level=vocabulary_filter("analysis_level", ANALYSIS_LEVELS))
    return matches_page(answer.matches, {"reason": answer.reason, "not_comparable": answer.undefined})


def search_json(search):
    """A search by file: its state, and once answered the public maps most like the file (paged)."""
    body = {
        "id": search.id,
        "url": absolute_url("api.similar_search_detail", search_id=search.id),
        "status": search.status,
        "error": search.error,
        "filename": search.filename,
    }
    if search.status != SimilaritySearch.READY:
        return body
    return {**body, **matches_page(public_matches(search), {})}


@bp.route("/similar/", methods=["POST"], **SLASHLESS)
@defers_csrf
def similar_search():
    """Search by file: ``file`` (multipart) is compared with every public map by a worker, never published."""
    user = require_user()
    request.upload_limit = search_limit(request.content_length)
    check_session_csrf()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise field_error("file", request.no_file_reason())
    search = start_search(user, upload)
    return search_json(search), 200 if search.status != SimilaritySearch.PENDING else 202


@bp.route("/similar/<search_id>/", **SLASHLESS)
def similar_search_detail(search_id):
    return search_json(own_search_or_404(search_id, require_user()))
