"""Who may see and change what. Every route asks here, so the rules live in one place.

A private collection, and everything in it (images, files, thumbnails, status),
answers 404 to anyone who may not know it exists: not 403, which would confirm it.
Holders of a share link get read access for their session.
"""

from flask import abort, session
from flask_security import current_user

from .extensions import db
from .models import Collection, Image

SHARES_KEY = "shared_collections"
#: Ids are 32-bit integer columns: a larger number in a URL names nothing (and would make the database raise).
MAX_ID = 2**31 - 1


def remember_share(collection):
    """Let this browser session see a private collection whose share link it opened."""
    shared = set(session.get(SHARES_KEY, []))
    shared.add(collection.share_token)
    session[SHARES_KEY] = sorted(shared)


def session_can_see(collection, user=None):
    """Whether the current visitor may see the collection: public, theirs, admin, or shared with them."""
    user = user if user is not None else current_user
    if collection.visible_to(user):
        return True
    return collection.unpublished_reason is None and collection.share_token in session.get(SHARES_KEY, [])


def row_or_none(model, row_id, options=()):
    """The row with this id, or None, whatever number a URL or a form put there; ``options`` are loader options."""
    return db.session.get(model, row_id, options=options) if 0 < row_id <= MAX_ID else None


def can_see(collection, user, share_token=None):
    """Public, theirs, an administrator's, a share token presented with the request, or one this session opened."""
    return collection.visible_to(user, share_token) or session_can_see(collection, user)


def collection_visible_or_404(collection, user, share_token=None):
    """The collection (a row or None) if the caller may see it, else 404: the one rule for pages and API."""
    if collection is None or not can_see(collection, user, share_token):
        abort(404)
    return collection


def image_visible_or_404(image, user, share_token=None):
    """The image (a row or None) if the caller may see its collection and it is not unpublished for them, else 404."""
    if image is None or not can_see(image.collection, user, share_token) or image.hidden_from(user):
        abort(404)
    return image


def editable_or_403(collection, user):
    """The collection if the caller may change it, else 403 (asked only once it is known to be visible)."""
    if not collection.editable_by(user):
        abort(403)
    return collection


def visible_collection_or_404(collection_id, user=None, options=()):
    """The collection if the visitor may see it, else 404; ``options`` load what the page reads with it."""
    user = user if user is not None else current_user
    return collection_visible_or_404(row_or_none(Collection, collection_id, options), user)


def editable_collection_or_404(collection_id, user=None):
    """The collection if the visitor may change it; 404 if they may not even see it, 403 if only see."""
    user = user if user is not None else current_user
    return editable_or_403(visible_collection_or_404(collection_id, user), user)


def visible_image_or_404(image_id, user=None, options=()):
    """The image if the visitor may see its collection, else 404; ``options`` load what the page reads with it."""
    user = user if user is not None else current_user
    return image_visible_or_404(row_or_none(Image, image_id, options), user)


def editable_image_or_404(image_id, user=None):
    """The image if the visitor may change its collection; 404 if they may not see it, 403 if only see."""
    user = user if user is not None else current_user
    image = visible_image_or_404(image_id, user)
    editable_or_403(image.collection, user)
    return image
