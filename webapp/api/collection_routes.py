"""Collections: list (public), create, read, change, delete; a collection's images (list, upload, zip)."""

import functools

import sqlalchemy as sa
from flask import request
from sqlalchemy.orm import joinedload

from .. import batches, quota
from ..autocommit import reads_without_transaction
from ..extensions import db
from ..files import delete_collection
from ..ingest import add_image, reserve_upload_bytes, store_upload
from ..models import Collection, Image, utcnow
from ..numbers import ascii_whole_number
from ..pagecache import (
    COLLECTIONS_LIST,
    SITE,
    collection_scope,
    kept_while_current,
    reads_generations,
    shared_with_visitors,
)
from ..pipeline import queue_processing
from . import bp
from .archive import zip_response
from .auth import check_session_csrf, defers_csrf, require_user
from .errors import field_error
from .lookup import IMAGE_LOADING, editable_collection, sees_unfinished_images, visible_collection
from .paging import count_of, page_of
from .parsing import Invalid, body_fields, checked_string, collection_fields, image_fields
from .serializers import collection_json, image_json, json_safe

SLASHLESS = {"strict_slashes": False}


@functools.cache
def public_collections():
    """Public collections, oldest first: the same query object for every request (the unfiltered list's page
    statements are built once from it, ``paging.public_page_pairs``)."""
    return Collection.public_query().options(joinedload(Collection.owner)).order_by(Collection.id)


def filtered_public_collections():
    """Public collections, filtered by NeuroVault's ``name``, ``DOI`` and ``owner`` parameters, oldest first."""
    query = public_collections()
    for parameter, column in (("name", Collection.name), ("DOI", Collection.doi)):
        if parameter in request.args:
            query = query.where(column == filter_text(parameter))
    if "owner" in request.args:
        owner = ascii_whole_number(request.args["owner"], max_digits=9)
        if owner is None:
            raise field_error("owner", "Select a valid choice. That choice is not one of the available choices.")
        query = query.where(Collection.owner_id == owner)
    return query


def filter_text(parameter):
    """A text filter's value, if a database can compare it (no NUL characters), else a 400."""
    try:
        return checked_string(request.args[parameter])
    except Invalid as problem:
        raise field_error(parameter, str(problem)) from None


def apply_collection_changes(collection, changes, extra):
    """Copy validated fields in; a DOI another collection has is a 400, as on NeuroVault; a new DOI is dated."""
    if Collection.doi_taken(changes.get("doi"), other_than=collection):
        raise field_error("DOI", "collection with this DOI already exists.")
    if changes.get("doi") and changes["doi"] != collection.doi:
        collection.doi_add_date = utcnow()
    for column, value in changes.items():
        setattr(collection, column, value)
    if extra:
        collection.extra = {**(collection.extra or {}), **extra}


def created(payload, url):
    return json_safe(payload), 201, {"Location": url}


@bp.route("/collections/", methods=["GET", "POST"], **SLASHLESS)
@shared_with_visitors
@reads_generations(SITE, COLLECTIONS_LIST)
@reads_without_transaction
def collections():
    """Public collections, oldest first; the unfiltered list's total is kept while its generation lasts (the
    number the web list shows), and a deep offset starts from a kept checkpoint."""
    if request.method == "POST":
        return create_collection()
    query = filtered_public_collections()
    if any(parameter in request.args for parameter in ("name", "DOI", "owner")):
        return page_of(query, collection_json, model=Collection, list_scope=COLLECTIONS_LIST)
    count = kept_while_current("api_public_collection_count", [COLLECTIONS_LIST], lambda: count_of(query))
    return page_of(query, collection_json, count=count, model=Collection,
                   checkpoints=("api.collections", COLLECTIONS_LIST), list_scope=COLLECTIONS_LIST)


def create_collection():
    user = require_user()
    changes, extra = collection_fields(body_fields(), partial=False)
    collection = Collection(owner_id=user.id, extra={})
    apply_collection_changes(collection, changes, extra)
    db.session.add(collection)
    db.session.commit()
    payload = collection_json(collection)
    return created(payload, payload["api_url"])


@bp.route("/my_collections/", **SLASHLESS)
def my_collections():
    user = require_user()
    query = (
        sa.select(Collection)
        .where(Collection.owner_id == user.id)
        .options(joinedload(Collection.owner))
        .order_by(Collection.id)
    )
    return page_of(query, collection_json)


@bp.route("/collections/<ref>/", methods=["GET", "PUT", "PATCH", "DELETE"], **SLASHLESS)
@shared_with_visitors
def collection_detail(ref):
    if request.method == "GET":
        return collection_json(visible_collection(ref))
    collection = editable_collection(ref)
    if request.method == "DELETE":
        delete_collection(collection)
        return "", 204
    changes, extra = collection_fields(body_fields(), partial=request.method == "PATCH")
    apply_collection_changes(collection, changes, extra)
    db.session.commit()
    return collection_json(collection)


def listed_images(collection):
    """The collection's images this caller sees, in upload order: all for its editors, the ready ones for others."""
    query = sa.select(Image).where(Image.collection_id == collection.id).options(*IMAGE_LOADING).order_by(Image.id)
    if not sees_unfinished_images(collection):
        query = query.where(Image.status == Image.READY, Image.unpublished_reason.is_(None))
    return query


@bp.route("/collections/<ref>/images/", methods=["GET", "POST"], **SLASHLESS)
@defers_csrf
@shared_with_visitors
def collection_images(ref):
    """A collection's maps. Its owner sees every one (the stored count); anyone else the ready, published ones,
    the same list for all of them: its total is counted once per generation of the collection, and a deep offset
    starts from a checkpoint (a COUNT over a 200,000-map collection took ~50 ms of every page, and its offset
    190,000 ~70 ms more)."""
    if request.method == "POST":
        return upload_image(editable_collection(ref))
    collection = visible_collection(ref)
    query = listed_images(collection)
    if sees_unfinished_images(collection):
        return page_of(query, image_json, count=collection.image_count, model=Image)
    scope = collection_scope(collection.id)
    return page_of(query, image_json, count=kept_while_current(f"listed-images:{collection.id}", [scope],
                                                               lambda: count_of(query)),
                   model=Image, checkpoints=(f"api.collection-images:{collection.id}", scope))


def upload_image(collection):
    """The web upload's path: limits before reading, stream to storage, row, commit, then queue."""
    user = require_user()
    request.upload_limit = reserve_upload_bytes(user, request.content_length)
    check_session_csrf()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise field_error("file", request.no_file_reason())
    if batches.needs_worker(upload.filename):
        return batches.accept_for_worker(collection, user, upload), 202
    fields, extra = image_fields(body_fields())
    image = add_image(collection, user, store_upload(upload), upload.filename, extra=extra, **fields)
    quota.settle()
    db.session.commit()
    queue_processing([image.id])
    image = db.session.get(Image, image.id, options=IMAGE_LOADING, populate_existing=True)
    payload = image_json(image)
    return created(payload, payload["api_url"])


@bp.route("/collections/<ref>/download", **SLASHLESS)
def collection_download(ref):
    """Every listed image's original file in one zip, streamed as it is read from storage."""
    collection = visible_collection(ref)
    images = db.session.scalars(listed_images(collection)).all()
    return zip_response(images, f"collection_{collection.id}.zip")
