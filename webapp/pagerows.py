"""The rows an image or collection page reads when its pieces are kept (``pagefragments``, decision 0040).

With the pieces kept, a page needs only what the access check asks (``access``: privacy, owner, takedown,
share token) and what its per-request parts show (title, actions, pager). An ORM object for that, even with
``load_only``, sets a loader on each of the model's other columns (~85 for an image) and was a third of the
page's time; these columns are read as one plain row and wrapped in objects that answer the access rules
with the models' own methods.
"""

import sqlalchemy as sa

from .access import MAX_ID
from .extensions import db
from .models import Collection, Image

COLLECTION_COLUMNS = (Collection.id, Collection.name, Collection.private, Collection.owner_id,
                      Collection.unpublished_reason, Collection.share_token, Collection.image_count)
IMAGE_COLUMNS = (Image.id, Image.name, Image.status, Image.collection_id, Image.unpublished_reason)


class CollectionRow:
    """A collection's access columns, with ``Collection``'s own rules."""

    __slots__ = ("id", "name", "private", "owner_id", "unpublished_reason", "share_token", "image_count")
    visible_to = Collection.visible_to
    editable_by = Collection.editable_by

    def __init__(self, values):
        for name, value in zip(self.__slots__, values, strict=True):
            setattr(self, name, value)


class ImageRow:
    """An image's access columns and its collection's, with ``Image``'s own rules."""

    __slots__ = ("id", "name", "status", "collection_id", "unpublished_reason", "collection")
    FINAL_STATUSES, READY = Image.FINAL_STATUSES, Image.READY
    hidden_from = Image.hidden_from
    is_final = Image.is_final

    def __init__(self, values, collection):
        self.id, self.name, self.status, self.collection_id, self.unpublished_reason = values
        self.collection = collection


def collection_row(collection_id):
    """The collection's access columns, or None (no such row, or an id no row can have)."""
    if not 0 < collection_id <= MAX_ID:
        return None
    row = db.session.execute(sa.select(*COLLECTION_COLUMNS).where(Collection.id == collection_id)).first()
    return CollectionRow(row) if row is not None else None


def image_row(image_id):
    """The image's access columns and its collection's, in one query, or None."""
    if not 0 < image_id <= MAX_ID:
        return None
    statement = (sa.select(*IMAGE_COLUMNS, *COLLECTION_COLUMNS).join(Collection, Image.collection_id == Collection.id)
                 .where(Image.id == image_id))
    row = db.session.execute(statement).first()
    if row is None:
        return None
    split = len(IMAGE_COLUMNS)
    return ImageRow(row[:split], CollectionRow(row[split:]))
