"""Image cards read as plain column rows, for the list pages of several blueprints (``macros/cards.html``).

An ORM object per card, even with ``load_only``, sets a deferred loader on each of the image's ~85 other
columns: a third of a list page's time (issue 19). A card needs six columns and, on the lists that show it,
its collection's name; these are read as a row and wrapped in ``ImageCard``.
"""

from types import SimpleNamespace

from .models import Image

#: The columns ``image_card`` shows, in ``ImageCard``'s order; a list that shows the collection adds its name.
IMAGE_CARD_COLUMNS = (Image.id, Image.name, Image.status, Image.map_type, Image.modality, Image.collection_id)


class ImageCard:
    """What an image card shows, with ``collection.name`` as the macro reads it (None when not selected)."""

    __slots__ = ("id", "name", "status", "map_type", "modality", "collection_id", "collection")

    def __init__(self, row):
        self.id, self.name, self.status, self.map_type, self.modality, self.collection_id = row[:6]
        self.collection = SimpleNamespace(name=row[6]) if len(row) > 6 else None
