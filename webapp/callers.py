"""Who is calling, for the machine-facing endpoints (API, tus): an API token or the browser's session.

Scripts send ``Authorization: Token <secret>`` (NeuroVault's header) or
``Bearer <secret>``. A request that names a token is judged by that token
alone: a wrong or revoked one is a 401, never a fall-back to a cookie.
"""

from datetime import timedelta

from flask import abort, current_app, request
from flask_security import current_user

from .extensions import db
from .models import ApiToken, utcnow

TOKEN_SCHEMES = ("token", "bearer")
LAST_USED_RESOLUTION = timedelta(minutes=1)


def presented_secret():
    """The key of an ``Authorization: Token|Bearer <key>`` header: a string (maybe empty), None when absent."""
    scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() not in TOKEN_SCHEMES:
        return None
    return key.strip()


def user_for_secret(secret):
    """The active user owning this API token (noting when it was used), or None."""
    if not secret or " " in secret:
        return None
    token = ApiToken.find_active(secret)
    if token is None or not token.user.active:
        return None
    note_use(token)
    return token.user


def user_from_token_header():
    """The active user whose API token the request carries; None when it carries none, 401 when it is bad."""
    secret = presented_secret()
    if secret is None:
        return None
    user = user_for_secret(secret)
    if user is None:
        abort(401, "The API token is not valid (it may have been revoked). Make a new one on your profile page.")
    return user


def note_use(token):
    """Record when a token was last used, to the minute (not one write per request)."""
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        db.session.commit()


def session_user():
    """The user logged in through the browser's session cookie, or None."""
    if current_user and current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def refuse_login_tokens(request):
    """Flask-Security's request loader, replaced: its own login tokens open nothing, anywhere.

    Its loader reads a token from ``?auth_token=``, a JSON body or a header, and Flask-Login
    asks it whenever a request has no session, so a token in a link (kept in histories, logs and
    ``Referer``) opened private pages. Scripts use API tokens in the ``Authorization`` header
    (``user_from_token_header``); browsers use the session cookie.
    """
    return None


def end_sessions_everywhere(sender, user=None, **extra):
    """On logout, give the user a new ``fs_uniquifier``: every session and remember cookie they hold dies.

    Sessions are signed cookies, so clearing the browser's copy leaves a saved copy valid; the
    uniquifier they name is the one server-side thing a cookie needs, so changing it is the
    logout ("log out everywhere", docs/security.md). API tokens are separate and stay valid.
    """
    if not getattr(user, "is_authenticated", False) or not getattr(user, "fs_uniquifier", None):
        return
    current_app.extensions["security"].datastore.set_uniquifier(user)
    db.session.commit()
