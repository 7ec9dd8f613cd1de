"""Anonymous visitors' pages, served from memory until anything a page shows changes.

Most visitors are anonymous, and for the same address they all get the same bytes; building
them costs milliseconds of queries, Jinja and ``url_for`` each time. A view decorated with
``shared_with_visitors`` keeps its finished response (status, headers, body) in the web process,
under the request's full URL and stamped with the *generations* of what it shows. Generations
live in the shared cache (Flask-Caching: Redis in production, a folder under ``instance/`` on one
machine), one per **scope** (decision 0010):

- ``any``: renewed by every commit that writes a collection, an image, its stats or thumbnails,
  or a user; pages that name no scope (the API's) depend on it alone, as before;
- ``site``: renewed by what every page may show or what cannot be pinned to rows (a user renamed,
  a statement over a whole table); every scoped page depends on it;
- ``collection:<id>``: renewed when the collection, one of its images or their stats or
  thumbnails change;
- ``list:images`` and ``list:collections``: renewed when a change may alter what the public
  lists show (a ready image, any collection row).

A view names its scopes with ``depends_on`` while it builds; the copy remembers them, and each
later request reads just those generations (one round trip) and is served the copy only when all
of them agree. So an upload to one collection leaves every other collection's pages in place.

Only what depends on nothing but the URL is shared: GET, no ``Authorization`` header, no signed-in
user, nothing in the session that changes what a visitor sees (share links opened, flash
messages), a 200 answer that sets no cookie and carries no CSRF token. Everyone else gets the page
built for them, as before.
"""

import functools
import itertools
import uuid

import sqlalchemy as sa
from cachelib import SimpleCache
from flask import Response, current_app, g, has_app_context, has_request_context, request, session
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.orm import Session

from .extensions import cache

ANY, SITE = "any", "site"
IMAGES_LIST, COLLECTIONS_LIST = "list:images", "list:collections"
GENERATION_PREFIX = "generation:"
CHANGED = "neurodrop_pages_changed"
# What an anonymous visitor's session may hold without changing any page it is shown.
NEUTRAL_SESSION_KEYS = frozenset({"csrf_token", "fs_cc", "_fresh", "_permanent", "_id"})
HIT_HEADER = "X-Page-Cache"


def init_page_cache(app):
    cache.init_app(app)
    app.extensions["page_values"] = {}
    app.extensions["page_copies"] = SimpleCache(
        threshold=app.config.get("PAGE_CACHE_PAGES", 200), default_timeout=app.config["CACHE_DEFAULT_TIMEOUT"]
    )
    # First of all hooks: a kept copy needs no identity, CSRF or API authentication work.
    app.before_request_funcs.setdefault(None, []).insert(0, serve_kept_copy)
    if not event.contains(Session, "after_commit", start_new_generations_after_commit):
        event.listen(Session, "after_flush", note_flushed_changes)
        event.listen(Session, "do_orm_execute", note_bulk_changes)
        event.listen(Session, "after_commit", start_new_generations_after_commit)
        event.listen(Session, "after_rollback", forget_changes)


def no_shared_cache(app=None):
    """Whether ``PAGE_CACHE_URL=off``: no generation is kept anywhere, so nothing stamped with one can be reused."""
    return (app or current_app).config.get("CACHE_TYPE") == "NullCache"


def collection_scope(collection_id):
    return f"collection:{collection_id}"


def depends_on(*scopes):
    """Called by a view while it builds: the page shows rows of these scopes (besides ``site``)."""
    if "page_scopes" in g:
        g.page_scopes.update(scopes)
    else:
        g.page_scopes = {SITE, *scopes}


def shown_classes():
    """The models whose rows appear on visitors' pages."""
    from .models import Artifact, Collection, Image, ImageStats, User

    return (Artifact, Collection, Image, ImageStats, User)


def note(session, scopes):
    session.info.setdefault(CHANGED, set()).update(scopes)


def note_flushed_changes(session, flush_context):
    from .models import Collection, Image, User

    shown = shown_classes()
    rows = [row for row in itertools.chain(session.new, session.dirty, session.deleted) if isinstance(row, shown)]
    if not rows:
        return
    scopes, image_ids = {ANY}, set()
    for row in rows:
        if isinstance(row, User):
            scopes.add(SITE)
        elif isinstance(row, Collection):
            scopes |= collection_scopes(row, deleted=row in session.deleted, new=row in session.new)
        elif isinstance(row, Image):
            scopes |= image_scopes(row)
        else:
            image_ids.add(row.image_id)
    if image_ids:
        scopes |= scopes_of_images(session, Image.id.in_(image_ids))
    note(session, scopes)


#: Collection columns the image list does not show: a change to these alone leaves it as it was.
NOT_ON_IMAGE_LIST = frozenset({"image_count", "modify_date"})


def collection_scopes(collection, deleted=False, new=False):
    """A collection's own scope and its list's; the image list's too when a column its cards show changed."""
    scopes = {collection_scope(collection.id), COLLECTIONS_LIST}
    changed = {attr.key for attr in sa.inspect(collection).attrs if attr.history.has_changes()}
    if deleted or (not new and changed - NOT_ON_IMAGE_LIST):
        scopes.add(IMAGES_LIST)
    return scopes


def image_scopes(image):
    """An image's collection (before and after a move), and the image list if it is or was ready."""
    from .models import Image

    history = {name: sa.inspect(image).attrs[name].history for name in ("collection_id", "status")}
    scopes = {collection_scope(cid) for cid in (*history["collection_id"].sum(), image.collection_id) if cid}
    if Image.READY in (*history["status"].sum(), image.status):
        scopes.add(IMAGES_LIST)
    return scopes


def scopes_of_images(session, condition, makes_ready=False):
    """The scopes of the images a condition picks: their collections, and the list if one is or becomes ready."""
    from .models import Image

    rows = session.execute(sa.select(Image.collection_id, Image.status).where(condition).distinct()).all()
    scopes = {collection_scope(cid) for cid, _ in rows}
    if makes_ready or any(status == Image.READY for _, status in rows):
        scopes.add(IMAGES_LIST)
    return scopes


def note_bulk_changes(state):
    """``insert()`` / ``update()`` / ``delete()`` statements bypass the flush: the rows they pick are read first.

    An UPDATE or DELETE of images (or their stats and thumbnails) or collections with a WHERE clause
    marks the collections of the rows it picks; anything else (an INSERT, a table-level statement,
    users) marks the whole site.
    """
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    mappers = state.all_mappers
    if mappers and not any(issubclass(mapper.class_, shown_classes()) for mapper in mappers):
        return
    note(state.session, {ANY} | bulk_scopes(state))


def bulk_scopes(state):
    from .models import Artifact, Collection, Image, ImageStats

    where = getattr(state.statement, "whereclause", None)
    classes = {mapper.class_ for mapper in state.all_mappers}
    if state.is_insert or where is None or len(classes) != 1:
        return {SITE}
    [model] = classes
    if model is Collection:
        ids = state.session.scalars(sa.select(Collection.id).where(where)).all()
        return {IMAGES_LIST, COLLECTIONS_LIST, *map(collection_scope, ids)}
    if model is Image:
        makes_ready = state.statement.compile().params.get("status") == Image.READY
        return scopes_of_images(state.session, where, makes_ready=makes_ready)
    if model in (ImageStats, Artifact):
        return scopes_of_images(state.session, Image.id.in_(sa.select(model.image_id).where(where)))
    return {SITE}


def forget_changes(session):
    session.info.pop(CHANGED, None)


def start_new_generations_after_commit(session):
    scopes = session.info.pop(CHANGED, None)
    if scopes and has_app_context() and "cache" in current_app.extensions:
        try:
            new_generations(scopes)
        except Exception as exc:  # a cache outage must not fail a commit that already happened
            current_app.logger.warning("page cache: could not start new generations: %r", exc)


def new_generations(scopes):
    """Start new generations: every page stored so far that depends on one of these scopes is out of date.

    What this request read once (``read_once``) is forgotten: its next reader reads again.
    """
    values = {GENERATION_PREFIX + scope: uuid.uuid4().hex for scope in scopes}
    if has_request_context():
        request.generations_read = {}
    cache.set_many(values, timeout=0)
    return values


def generations(scopes):
    """The current generation of each scope, None where the shared cache holds none."""
    keys = [GENERATION_PREFIX + scope for scope in scopes]
    return dict(zip(scopes, cache.get_many(*keys), strict=True))


#: How many numbers ``kept_while_current`` keeps per process (a few hundred bytes each).
KEPT_VALUES = 10_000


def kept_while_current(name, scopes, compute):
    """``compute()``, kept in this process until one of the scopes' generations changes (for anyone, signed in
    or not: a site-wide number such as the image list's total). Read before computing, so never stamped too new."""
    try:
        stamp = tuple(read_once([SITE, *scopes]).values())
    except Exception:  # a cache outage costs the computation, never the answer
        return compute()
    kept = current_app.extensions["page_values"].get(name)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    value = compute()
    if None not in stamp:  # None: no shared cache (PAGE_CACHE_URL=off)
        values = current_app.extensions["page_values"]
        if len(values) >= KEPT_VALUES:  # one per collection asked about: bounded, dropped all at once
            values.clear()
        values[name] = (stamp, value)
    return value


def generations_made_if_missing(scopes):
    """The scopes' generations, starting one where the shared cache has none (new, evicted or expired)."""
    current = generations(scopes)
    missing = [scope for scope, value in current.items() if value is None]
    if missing:
        created = new_generations(missing)
        current |= {scope: created[GENERATION_PREFIX + scope] for scope in missing}
    return current


def reads_generations(*scopes):
    """Mark a view that reads these scopes' generations through ``read_once``: the request's first ``read_once``
    (the API token's check, before the view) fetches them in the same round trip."""

    def mark(view):
        view.reads_generations = scopes
        return view

    return mark


def read_once(scopes):
    """The scopes' generations (made if missing) as this request first read them: one round trip to the shared
    cache for all the readers of a request, and for the scopes its view declared (``reads_generations``).

    For readers that need a generation read before the rows they stand for (kept values, tokens, checkpoints):
    a value read earlier in the request still is. A generation this process starts (a commit in the request,
    ``new_generations``) empties what was read, so nothing read before a commit is used after it.
    """
    if not has_request_context():
        return generations_made_if_missing(scopes)
    read = getattr(request, "generations_read", None)
    if not read:
        view = current_app.view_functions.get(request.endpoint)
        wanted = dict.fromkeys([*scopes, *getattr(view, "reads_generations", ())])
        read = generations_made_if_missing(list(wanted))
        request.generations_read = read
    missing = [scope for scope in scopes if scope not in read]
    if missing:  # (starting a missing one empties what was read: put it back, it was read before)
        read = request.generations_read = read | generations_made_if_missing(missing)
    return {scope: read[scope] for scope in scopes}


def page_copies():
    """This process's copies of visitors' pages: at most ``PAGE_CACHE_PAGES``, each stamped with its generations."""
    return current_app.extensions["page_copies"]


def is_shareable_request():
    """Whether this request's answer depends on its URL alone."""
    return (
        request.method in ("GET", "HEAD")
        and "Authorization" not in request.headers
        and session.keys() <= NEUTRAL_SESSION_KEYS
        and not current_user.is_authenticated
    )


def is_shareable_response(response):
    return (
        response.status_code == 200
        and not response.is_streamed
        and "Set-Cookie" not in response.headers
        and "csrf_token" not in g
        and "no-store" not in response.headers.get("Cache-Control", "")
        and not session.modified
    )


def stored_form(stamps, response):
    headers = [(name, value) for name, value in response.headers.items() if name != HIT_HEADER]
    return stamps, response.status_code, headers, response.get_data()


def response_from(stored):
    _, status, headers, body = stored
    response = Response(body, status=status, headers=headers)
    response.headers[HIT_HEADER] = "hit"
    return response


def serve_kept_copy():
    """Answer a shareable request from this process's copy when the generations it was stamped with are current.

    Otherwise note the ``any`` generation read before the view runs: the wrapper keeps what the view
    builds only if no commit started a new one meanwhile, so a copy is never stamped newer than its data.
    """
    view = current_app.view_functions.get(request.endpoint)
    if not getattr(view, "shares_with_visitors", False) or not is_shareable_request():
        return None
    stored = page_copies().get(request.url)
    stamps = stored[0] if stored is not None else {}
    try:
        current = generations([ANY, *stamps])
    except Exception as exc:  # a cache outage costs speed, never the page
        current_app.logger.warning("page cache: generations unavailable, page built: %r", exc)
        return None
    if stored is not None and all(current[scope] == value for scope, value in stamps.items()):
        return response_from(stored)
    g.page_generation = current[ANY] or new_generations([ANY])[GENERATION_PREFIX + ANY]
    return None


def stamps_for_built_page(generation_before):
    """The generations of the scopes the view named, or None when a commit happened while it was built."""
    scopes = sorted(g.pop("page_scopes", None) or {ANY})
    current = generations_made_if_missing([ANY, *scopes])
    if current[ANY] != generation_before:
        return None
    return {scope: current[scope] for scope in scopes}


def shared_with_visitors(view):
    """Decorate a visitors' view: anonymous requests share one kept copy per URL and generations."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        generation = g.pop("page_generation", None)
        if generation is None:
            return view(*args, **kwargs)
        response = current_app.make_response(view(*args, **kwargs))
        if is_shareable_response(response):
            response.headers[HIT_HEADER] = "miss"
            try:
                stamps = stamps_for_built_page(generation)
            except Exception as exc:  # a cache outage costs the copy, never the page
                current_app.logger.warning("page cache: generations unavailable, page not kept: %r", exc)
                stamps = None
            if stamps is not None:
                page_copies().set(request.url, stored_form(stamps, response))
        return response

    wrapper.shares_with_visitors = True
    return wrapper
