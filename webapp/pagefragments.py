"""Pieces of HTML pages that show one object, kept in the web process while the object's generations hold.

Issue 19 item 1, decision 0040. A built page (a signed-in researcher, an API client, a reload with
``Cache-Control: no-cache``) spent most of its time on what depends on one object only and not on who
asks: an image's header, viewer, statistics and report; a collection's card on ``/collections/``; a
collection's header. Each such piece is kept here under the object's id (and the mount point its links
start with), stamped with the page cache's generations of ``site`` and the object's collection
(decision 0010): every commit that writes what the piece shows, in the web tier or in a worker, renews
one of them, so the next request in any process builds it again. The request itself still checks who may
see the object, reads its small query and writes what depends on the viewer (navigation, CSRF tokens,
flash messages, owner controls, similar maps) fresh: a piece only ever reaches someone the page's own
access check let through, and no piece holds anything that depends on the viewer.

Stamps follow the page cache's rule: a piece is stamped with generations read before its rows
(``kept_pieces``), or kept only if ``any`` did not change while it was built (``Building``). Without
a shared cache (``PAGE_CACHE_URL=off``), or when it cannot be read, every piece is built, as before.
"""

from flask import current_app, request

from .pagecache import ANY, SITE, generations_made_if_missing, no_shared_cache

#: How many pieces a web process keeps (a few KB each; an image page's up to a few hundred KB for a long
#: series' statistics); past it, all are dropped at once.
KEPT_PIECES = 5000


def kept_store():
    """This process's pieces: (kind, object id, mount point) → (stamp, piece)."""
    return current_app.extensions.setdefault("page_fragments", {})


def piece_key(kind, object_id):
    """Where a piece is kept: its links start with the mount point (``BASE_URL`` for absolute ones, per app)."""
    return kind, object_id, request.script_root


def current_generations(scopes):
    """The generations of ``site``, ``any`` and these scopes, or None when there is no shared cache to read."""
    if no_shared_cache():
        return None
    try:
        return generations_made_if_missing([ANY, SITE, *scopes])
    except Exception as exc:  # a cache outage costs the building, never the page
        current_app.logger.warning("page fragments: generations unavailable, built: %r", exc)
        return None


def keep(key, stamp, piece):
    store = kept_store()
    if len(store) >= KEPT_PIECES:
        store.clear()
    store[key] = (stamp, piece)


def kept_pieces(kind, pairs, build):
    """The piece of each object ``pairs`` names ((id, scope), in order): kept ones reused, the others made by
    ``build(ids)`` (→ {id: piece}) from rows it reads after the generations were, so never stamped too new."""
    current = current_generations({scope for _, scope in pairs})
    store, found, scope_of = kept_store(), {}, dict(pairs)
    for object_id, scope in pairs:
        entry = store.get(piece_key(kind, object_id)) if current is not None else None
        if entry is not None and entry[0] == (current[SITE], current[scope]):
            found[object_id] = entry[1]
    missing = [object_id for object_id, _ in pairs if object_id not in found]
    if missing:
        built = build(missing)
        if current is not None:
            for object_id, piece in built.items():
                keep(piece_key(kind, object_id), (current[SITE], current[scope_of[object_id]]), piece)
        found.update(built)
    return found


class Building:
    """One object's piece looked up before its rows are read: ``kept`` is the piece when its stamp holds.

    ``scope`` is the object's scope when the address names it (a collection's page), else the one its kept
    piece was stamped with. When the piece is not current, the caller reads the rows and builds; ``keep``
    then stamps the piece with the generations read after building, but only if ``any`` is what it was
    before the rows were read (no commit meanwhile could have changed them without the stamp showing it).
    """

    def __init__(self, kind, object_id, scope=None):
        self.key = piece_key(kind, object_id)
        entry = kept_store().get(self.key)
        self.scope = scope or (entry[0][0] if entry is not None else None)
        self.before = current_generations([self.scope] if self.scope else [])
        self.kept = None
        if entry is not None and self.before is not None and entry[0] == (self.scope, self.before[SITE],
                                                                           self.before[self.scope]):
            self.kept = entry[1]

    def keep(self, scope, piece):
        if self.before is None:
            return
        after = current_generations([scope])
        if after is not None and after[ANY] == self.before[ANY]:
            keep(self.key, (scope, after[SITE], after[scope]), piece)

    def pieces_of_rows(self, kind, rows, build):
        """A piece per row (each with an ``id``), kept under the generations this request read before reading
        the rows: for the object's parts, such as a collection's image cards, which its scope stamps too."""
        if self.before is None:
            return [build(row) for row in rows]
        stamp, store, pieces = (self.before[SITE], self.before[self.scope]), kept_store(), []
        for row in rows:
            key = piece_key(kind, row.id)
            entry = store.get(key)
            if entry is None or entry[0] != stamp:
                entry = (stamp, build(row))
                keep(key, *entry)
            pieces.append(entry[1])
        return pieces
