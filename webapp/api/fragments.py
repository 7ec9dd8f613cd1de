"""Each listed image's and collection's API JSON kept as encoded bytes while nothing it shows has changed.

Issue 19 item 2, decisions 0026 and 0037. An image's JSON (``serializers.image_json``) depends on the image,
its stats, its artifacts and its collection; a collection's (``serializers.collection_json``) on the
collection and its owner; neither on the caller. Every change to those rows starts a new generation of
the collection's scope of the page cache (``webapp/pagecache.py``, decision 0010), in the web tier and in
the workers alike; ``site`` changes with a user's row and with whatever cannot be pinned to rows. So a list
reads the page's ids and collections first (a narrow query), then those scopes' generations (one round trip
to the shared cache), and builds only the items whose kept bytes carry other generations: their rows are
loaded with the list's own query. The generations are read before the rows, so kept bytes are never
stamped newer than what they show. A scope without a generation gets a new one (nothing kept before it
counts). Without a shared cache (``PAGE_CACHE_URL=off``), or when it cannot be read, every item is built,
as before. The bytes are the JSON provider's own (``encoding.encoded``), joined into the answer as they are.
"""

from flask import current_app

from ..extensions import db
from ..models import Collection, Image
from ..pagecache import SITE, collection_scope, generations_made_if_missing, no_shared_cache
from .checkpoints import current_stamp
from .encoding import encoded

#: How many items' JSON a web process keeps per kind (a few KB each, more for a long series' stats: ~5–50 MB
#: of images), the API's largest page; past it, the kept ones of that kind are dropped at once.
KEPT_ITEMS = 1000

#: Per listed model: the column naming the collection whose scope stamps an item, and where its bytes are kept.
KINDS = {Image: (Image.collection_id, "api_image_json"), Collection: (Collection.id, "api_collection_json")}


def kept_bytes(model):
    """This process's kept JSON of one kind: id → (stamp, encoded bytes, the list's stamp it was last found under)."""
    return current_app.extensions.setdefault(KINDS[model][1], {})


def page_keys(query, model):
    """The list's query narrowed to (id, id of the collection whose generation stamps the item)."""
    return query.with_only_columns(model.id, KINDS[model][0].label("scope_id"))


def page_stamps(pairs):
    """Each item's stamp (the site's and its collection's generations), or None when they cannot be read."""
    if no_shared_cache():
        return None
    scopes = [SITE, *{collection_scope(collection_id) for _, collection_id in pairs}]
    try:
        current = generations_made_if_missing(scopes)
    except Exception:  # a cache outage costs the building, never the answer
        return None
    site = current[SITE]
    return {item_id: (site, current[collection_scope(collection_id)]) for item_id, collection_id in pairs}


def list_stamp(list_scope):
    """The generations of ``site`` and a public list's scope, or None (no such list, or no shared cache)."""
    return None if list_scope is None else current_stamp(list_scope)


def page_fragments(query, model, pairs, serialize, list_scope=None):
    """The encoded JSON of the items ``pairs`` names ((id, collection id), in the list's order), kept ones reused.

    ``query`` is the list's own query (its filters and loading options): the items to build are read
    through it. ``list_scope`` names a public list whose generation every change to what its items show
    renews (``list:images`` for the ready public maps, ``list:collections``): while it lasts, the items found
    current under it are current still, and the page reads two generations instead of one per collection.
    """
    kept = kept_bytes(model)
    listed = list_stamp(list_scope)
    if listed is not None:
        entries = [kept.get(item_id) for item_id, _ in pairs]
        if all(entry is not None and entry[2] == listed for entry in entries):
            return [entry[1] for entry in entries]
    stamps = page_stamps(pairs)
    found = {}
    if stamps is not None:
        for item_id, _ in pairs:
            entry = kept.get(item_id)
            if entry is not None and entry[0] == stamps[item_id]:
                found[item_id] = entry[1]
                kept[item_id] = (entry[0], entry[1], listed)
    missing = [item_id for item_id, _ in pairs if item_id not in found]
    if missing:
        rows = db.session.scalars(query.where(model.id.in_(missing))).unique().all()
        built = {row.id: encoded(serialize(row)) for row in rows}
        if stamps is not None:
            if len(kept) + len(built) > KEPT_ITEMS:
                kept.clear()
            kept.update({item_id: (stamps[item_id], value, listed) for item_id, value in built.items()})
        found.update(built)
    return [found[item_id] for item_id, _ in pairs if item_id in found]
