"""Anonymous visitors' pages, served from memory until anything a page shows changes.

Most visitors are anonymous, and for the same address they all get the same bytes; building
them costs milliseconds of queries, Jinja and ``url_for`` each time. A view decorated with
``shared_with_visitors`` keeps its finished response (status, headers, body) in the web process,
under the request's full URL and stamped with the current *generation*. The generation lives in
the shared cache (Flask-Caching: Redis in production, a folder under ``instance/`` on one
machine), and every commit that writes a collection, an image, its stats or thumbnails, or a user
starts a new one, in the web processes and in the workers alike. Each request reads the
generation (one small read) and is served the kept copy only when the stamps agree, so no page is
ever served older than the data it shows, whichever process made the change.

Only what depends on nothing but the URL is shared: GET, no ``Authorization`` header, no signed-in
user, nothing in the session that changes what a visitor sees (share links opened, flash
messages), a 200 answer that sets no cookie and carries no CSRF token. Everyone else gets the page
built for them, as before.
"""

import functools
import itertools
import uuid

from cachelib import SimpleCache
from flask import Response, current_app, g, has_app_context, request, session
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.orm import Session

from .extensions import cache

GENERATION_KEY = "generation"
CHANGED = "neurodrop_pages_changed"
# What an anonymous visitor's session may hold without changing any page it is shown.
NEUTRAL_SESSION_KEYS = frozenset({"csrf_token", "fs_cc", "_fresh", "_permanent", "_id"})
HIT_HEADER = "X-Page-Cache"


def init_page_cache(app):
    cache.init_app(app)
    app.extensions["page_copies"] = SimpleCache(
        threshold=app.config.get("PAGE_CACHE_PAGES", 200), default_timeout=app.config["CACHE_DEFAULT_TIMEOUT"]
    )
    # First of all hooks: a kept copy needs no identity, CSRF or API authentication work.
    app.before_request_funcs.setdefault(None, []).insert(0, serve_kept_copy)
    if not event.contains(Session, "after_commit", start_new_generation_after_commit):
        event.listen(Session, "after_flush", note_flushed_changes)
        event.listen(Session, "do_orm_execute", note_bulk_changes)
        event.listen(Session, "after_commit", start_new_generation_after_commit)
        event.listen(Session, "after_rollback", forget_changes)


def shown_classes():
    """The models whose rows appear on visitors' pages."""
    from .models import Artifact, Collection, Image, ImageStats, User

    return (Artifact, Collection, Image, ImageStats, User)


def note_flushed_changes(session, flush_context):
    shown = shown_classes()
    if any(isinstance(row, shown) for row in itertools.chain(session.new, session.dirty, session.deleted)):
        session.info[CHANGED] = True


def note_bulk_changes(state):
    """``insert()`` / ``update()`` / ``delete()`` statements bypass the flush; a table-level one counts as shown."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    mappers = state.all_mappers
    if not mappers or any(issubclass(mapper.class_, shown_classes()) for mapper in mappers):
        state.session.info[CHANGED] = True


def forget_changes(session):
    session.info.pop(CHANGED, None)


def start_new_generation_after_commit(session):
    if session.info.pop(CHANGED, False) and has_app_context() and "cache" in current_app.extensions:
        try:
            new_generation()
        except Exception as exc:  # a cache outage must not fail a commit that already happened
            current_app.logger.warning("page cache: could not start a new generation: %r", exc)


def new_generation():
    """Start a new generation: every page stored so far is from now on out of date."""
    value = uuid.uuid4().hex
    cache.set(GENERATION_KEY, value, timeout=0)
    return value


def current_generation():
    return cache.get(GENERATION_KEY) or new_generation()


def page_copies():
    """This process's copies of visitors' pages: at most ``PAGE_CACHE_PAGES``, each stamped with its generation."""
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


def stored_form(generation, response):
    headers = [(name, value) for name, value in response.headers.items() if name != HIT_HEADER]
    return generation, response.status_code, headers, response.get_data()


def response_from(stored):
    _, status, headers, body = stored
    response = Response(body, status=status, headers=headers)
    response.headers[HIT_HEADER] = "hit"
    return response


def serve_kept_copy():
    """Answer a shareable request from this process's copy when its generation is current.

    Otherwise leave the generation in ``g`` for the view's wrapper, which keeps what the view
    builds under it (a commit in between makes that copy old at once, never wrongly current).
    """
    view = current_app.view_functions.get(request.endpoint)
    if not getattr(view, "shares_with_visitors", False) or not is_shareable_request():
        return None
    try:
        generation = current_generation()
    except Exception as exc:  # a cache outage costs speed, never the page
        current_app.logger.warning("page cache: generation unavailable, page built: %r", exc)
        return None
    stored = page_copies().get(request.url)
    if stored is not None and stored[0] == generation:
        return response_from(stored)
    g.page_generation = generation
    return None


def shared_with_visitors(view):
    """Decorate a visitors' view: anonymous requests share one kept copy per URL and generation."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        generation = g.pop("page_generation", None)
        if generation is None:
            return view(*args, **kwargs)
        response = current_app.make_response(view(*args, **kwargs))
        if is_shareable_response(response):
            page_copies().set(request.url, stored_form(generation, response))
            response.headers[HIT_HEADER] = "miss"
        return response

    wrapper.shares_with_visitors = True
    return wrapper
