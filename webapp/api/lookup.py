"""Finding the collection or image a URL names, for this caller, with the site's visibility rules.

A collection is named by its id or by its share token; an image link into a
private collection carries ``?share_token=``. Anything the caller may not see
is a 404, like something that does not exist.
"""

import re

from flask import abort, request
from sqlalchemy.orm import joinedload, selectinload

from ..access import session_can_see
from ..extensions import db
from ..models import Collection, Image
from ..numbers import ASCII_DIGITS, ascii_whole_number
from .auth import api_user, require_user

MAX_ID_DIGITS = 9
SHARE_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def share_token_or_none(text):
    """The text if it could be a share token (URL-safe, bounded); anything else can match no collection."""
    return text if text and SHARE_TOKEN_PATTERN.match(text) else None


def collection_by_ref(ref):
    """(collection, share token used) for an id or a share token, or (None, None)."""
    if ASCII_DIGITS.fullmatch(ref):
        collection_id = ascii_whole_number(ref, MAX_ID_DIGITS)
        if collection_id is None:
            return None, None
        return db.session.get(Collection, collection_id, options=[joinedload(Collection.owner)]), None
    token = share_token_or_none(ref)
    return (Collection.by_share_token(token), token) if token else (None, None)


def caller_can_see(collection, share_token=None):
    user = api_user()
    return collection.visible_to(user, share_token) or session_can_see(collection, user)


def visible_collection(ref):
    collection, share_token = collection_by_ref(ref)
    if collection is None or not caller_can_see(collection, share_token):
        abort(404)
    return collection


def editable_collection(ref):
    """The collection if the caller may change it: 401 anonymous, 404 invisible, 403 not theirs."""
    user = require_user()
    collection = visible_collection(ref)
    if not collection.editable_by(user):
        abort(403)
    return collection


IMAGE_LOADING = (
    joinedload(Image.collection),
    selectinload(Image.stats),
    selectinload(Image.artifacts),
)


def visible_image(image_id):
    image = db.session.get(Image, image_id, options=IMAGE_LOADING)
    if image is None or not caller_can_see(image.collection, share_token_or_none(request.args.get("share_token"))):
        abort(404)
    if image.hidden_from(api_user()):
        abort(404)
    return image


def editable_image(image_id):
    user = require_user()
    image = visible_image(image_id)
    if not image.collection.editable_by(user):
        abort(403)
    return image


def sees_unfinished_images(collection):
    """Whether the caller sees images still processing or failed: only those who may change the collection."""
    return collection.editable_by(api_user())
