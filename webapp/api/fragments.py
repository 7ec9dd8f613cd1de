"""Each image's API JSON kept in the web process while nothing it shows has changed (issue 19 item 2, decision 0026).

An image's JSON (``serializers.image_json``) depends on the image, its stats, its artifacts and its
collection, and on nothing about the caller. Every change to those rows starts a new generation of the
collection's scope of the page cache (``webapp/pagecache.py``, decision 0010), in the web tier and in
the workers alike; ``site`` changes with whatever cannot be pinned to rows. So a list reads the page's
ids and collections first (a narrow query), then those scopes' generations (one round trip to the
shared cache), and builds only the images whose kept JSON carries other generations: their rows are
loaded with the list's own query. The generations are read before the rows, so a kept JSON is never
stamped newer than what it shows. A scope without a generation gets a new one (nothing kept before it
counts). Without a shared cache (``PAGE_CACHE_URL=off``), or when it cannot be read, every image is built,
as before.
"""

from flask import current_app

from ..extensions import db
from ..models import Image
from ..pagecache import SITE, collection_scope, generations_made_if_missing

#: How many images' JSON a web process keeps (a few KB each, more for a long series' stats: ~5–50 MB), the
#: API's largest page; past it, the kept ones are dropped at once.
KEPT_IMAGES = 1000


def kept_json():
    """This process's kept JSON: image id → (stamp, JSON object)."""
    return current_app.extensions.setdefault("api_image_json", {})


def page_stamps(pairs):
    """Each image's stamp (the site's and its collection's generations), or None when they cannot be read."""
    if current_app.config.get("CACHE_TYPE") == "NullCache":  # PAGE_CACHE_URL=off: nothing could ever match
        return None
    scopes = [SITE, *{collection_scope(collection_id) for _, collection_id in pairs}]
    try:
        current = generations_made_if_missing(scopes)
    except Exception:  # a cache outage costs the building, never the answer
        return None
    return {image_id: (current[SITE], current[collection_scope(collection_id)]) for image_id, collection_id in pairs}


def page_json(query, pairs, serialize):
    """The JSON of the images ``pairs`` names ((id, collection id), in the list's order), kept ones reused.

    ``query`` is the list's own query (its filters and loading options): the images to build are read
    through it.
    """
    stamps = page_stamps(pairs)
    kept = kept_json()
    found = {}
    if stamps is not None:
        for image_id, _ in pairs:
            entry = kept.get(image_id)
            if entry is not None and entry[0] == stamps[image_id]:
                found[image_id] = entry[1]
    missing = [image_id for image_id, _ in pairs if image_id not in found]
    if missing:
        rows = db.session.scalars(query.where(Image.id.in_(missing))).unique().all()
        built = {row.id: serialize(row) for row in rows}
        if stamps is not None:
            if len(kept) + len(built) > KEPT_IMAGES:
                kept.clear()
            kept.update({image_id: (stamps[image_id], value) for image_id, value in built.items()})
        found.update(built)
    return [found[image_id] for image_id, _ in pairs if image_id in found]
