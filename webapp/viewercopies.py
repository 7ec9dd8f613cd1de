"""Pages kept per viewer: what a signed-in researcher, an API client or a visitor the page cache skips is sent.

The visitors' page cache (``pagecache``, decision 0010) shares one copy per address among anonymous
visitors and builds the page for everyone else, on every request: 3–4 ms of queries and Jinja, 8–14×
a bare route under load (issue 19). A view decorated with ``kept_per_viewer`` keeps the HTML it built
in this process under the address *and the viewer* (the signed-in user and whether they administer
the site, the share links their session opened), stamped with the same generations the page cache
uses; the same viewer asking again, while those generations hold, is sent the kept HTML. Only the
view is skipped: identity, CSRF, session, security headers and metrics run as for a built page.

Who may see what stays exact by construction: a copy is only ever sent to the viewer it was built
for, and it is as fresh as a shared page (a collection made private, an image renamed or a new map
start new generations of the scopes the page named with ``depends_on``). The one thing that differs
between two builds for the same viewer, the CSRF token of the forms an owner sees, is kept as a
placeholder and filled with this request's token. Flash messages (shown once) are not kept: a session
holding some is sent a built page (decision 0036).
"""

import functools
import secrets

from cachelib import SimpleCache
from flask import current_app, g, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from .access import SHARES_KEY
from .pagecache import ANY, SITE, depends_on, generations_made_if_missing, no_shared_cache

#: Stands for the CSRF token in kept HTML; random per process, so no text a user typed can equal it.
TOKEN_PLACEHOLDER = f"\x00csrf-{secrets.token_hex(16)}\x00"
FLASHES_KEY = "_flashes"


def init_viewer_copies(app):
    app.extensions["viewer_copies"] = SimpleCache(
        threshold=app.config.get("PAGE_CACHE_VIEWER_PAGES", 1000), default_timeout=app.config["CACHE_DEFAULT_TIMEOUT"]
    )


def viewer_copies():
    """This process's kept pages: at most ``PAGE_CACHE_VIEWER_PAGES``, each (stamps, HTML)."""
    return current_app.extensions["viewer_copies"]


def viewer():
    """Everything about the caller a page may differ by: who they are, whether they administer the site,
    and the private collections their session may see through share links."""
    shares = tuple(session.get(SHARES_KEY, ()))
    if not current_user.is_authenticated:
        return None, False, shares
    return current_user.id, bool(current_user.is_admin), shares


def copy_key():
    """The kept page's key for this request, or None when its page must be built (not a GET, flash messages
    waiting to be shown, a caller asking for a fresh page with ``Cache-Control: no-cache`` as a browser's
    reload does, or no shared cache to stamp it with)."""
    if request.method not in ("GET", "HEAD") or FLASHES_KEY in session or request.cache_control.no_cache:
        return None
    if no_shared_cache():
        return None
    return address(), viewer()


def address():
    """What ``request.url`` says, without its IRI decoding (a tenth of a kept page's time): scheme, host,
    mount point, path and raw query string."""
    environ = request.environ
    return (environ["wsgi.url_scheme"], request.host, environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""))


def stamps_of_built_page(generation_before):
    """The generations of the scopes the view named (left in ``g`` for the page cache's own copy), or None
    when a commit happened while it was built or the shared cache holds no generation."""
    scopes = sorted(g.get("page_scopes") or {ANY})
    current = generations_made_if_missing([ANY, *scopes])
    if current[ANY] != generation_before or None in current.values():
        return None
    return {scope: current[scope] for scope in scopes}


def html_to_keep(html):
    """The HTML with this request's CSRF token (if the page showed one) replaced by the placeholder."""
    token = g.get("csrf_token")
    return html.replace(token, TOKEN_PLACEHOLDER) if token else html


def html_to_send(kept):
    """Kept HTML with this request's CSRF token, made (and put in the session) as a built page would."""
    return kept.replace(TOKEN_PLACEHOLDER, generate_csrf()) if TOKEN_PLACEHOLDER in kept else kept


def kept_per_viewer(view):
    """Decorate a page view (under ``shared_with_visitors``): its HTML is kept per viewer while current."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = copy_key()
        if key is None:
            return view(*args, **kwargs)
        kept = viewer_copies().get(key)
        stamps = kept[0] if kept is not None else {}
        try:
            current = generations_made_if_missing([ANY, *stamps])
        except Exception as exc:  # a cache outage costs speed, never the page
            current_app.logger.warning("viewer copies: generations unavailable, page built: %r", exc)
            return view(*args, **kwargs)
        if kept is not None and all(current[scope] == value for scope, value in stamps.items()):
            depends_on(*(scope for scope in stamps if scope != SITE))
            return html_to_send(kept[1])
        html = view(*args, **kwargs)
        if isinstance(html, str) and FLASHES_KEY not in session:
            keep(key, html, current[ANY])
        return html

    return wrapper


def keep(key, html, generation_before):
    try:
        stamps = stamps_of_built_page(generation_before)
    except Exception as exc:  # a cache outage costs the copy, never the page
        current_app.logger.warning("viewer copies: generations unavailable, page not kept: %r", exc)
        return
    if stamps is not None:
        viewer_copies().set(key, (stamps, html_to_keep(html)))
