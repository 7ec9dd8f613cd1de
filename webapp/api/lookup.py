"""Finding the collection or image a URL names, for this caller, with the site's visibility rules.

A collection is named by its id or by its share token; an image link into a
private collection carries ``?share_token=``. Anything the caller may not see
is a 404, like something that does not exist.
"""

from flask import request
from sqlalchemy.orm import joinedload, selectinload

from ..access import collection_visible_or_404, editable_or_403, image_visible_or_404
from ..extensions import db
from ..models import Collection, Image, share_token_or_none
from ..numbers import ASCII_DIGITS, ascii_whole_number
from .auth import api_user, require_user
from .cors import mark_private

MAX_ID_DIGITS = 9


def collection_by_ref(ref):
    """(collection, share token used) for an id or a share token, or (None, None)."""
    if ASCII_DIGITS.fullmatch(ref):
        collection_id = ascii_whole_number(ref, MAX_ID_DIGITS)
        if collection_id is None:
            return None, None
        return db.session.get(Collection, collection_id, options=[joinedload(Collection.owner)]), None
    token = share_token_or_none(ref)
    return (Collection.by_share_token(token), token) if token else (None, None)


def visible_collection(ref):
    collection, share_token = collection_by_ref(ref)
    collection = collection_visible_or_404(collection, api_user(), share_token)
    if collection.private:
        mark_private()
    return collection


def editable_collection(ref):
    """The collection if the caller may change it: 401 anonymous, 404 invisible, 403 not theirs."""
    user = require_user()
    return editable_or_403(visible_collection(ref), user)


IMAGE_LOADING = (
    joinedload(Image.collection),
    selectinload(Image.stats),
    selectinload(Image.artifacts),
)


def visible_image(image_id, share_token=None):
    """The image if the caller may see it; the share token comes from the URL's path or its query string."""
    image = db.session.get(Image, image_id, options=IMAGE_LOADING)
    token = share_token_or_none(share_token or request.args.get("share_token"))
    image = image_visible_or_404(image, api_user(), token)
    if image.collection.private:
        mark_private()
    return image


def editable_image(image_id):
    user = require_user()
    image = visible_image(image_id)
    editable_or_403(image.collection, user)
    return image


def sees_unfinished_images(collection):
    """Whether the caller sees images still processing or failed: only those who may change the collection."""
    return collection.editable_by(api_user())
