"""Who is calling: an API token (``Authorization: Token <key>`` or ``Bearer <key>``) or the browser session.

A wrong token is a 401 on every route, as on NeuroVault (DRF), so a script with a
revoked token fails loudly instead of silently seeing only public data. Requests
authenticated by the session cookie must carry a CSRF token on unsafe methods
(header ``X-CSRFToken``, or the form field); token requests need none.
"""

from flask import current_app, g, request
from flask_security import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import Forbidden, Unauthorized

from ..callers import presented_secret
from ..extensions import csrf, db
from ..models import User
from . import bp
from .tokens import listen_for_token_changes, token_caller

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class NotAuthenticated(Unauthorized):
    """A 401 that tells the client which scheme to use."""

    def get_headers(self, environ=None, scope=None):
        return [*super().get_headers(environ, scope), ("WWW-Authenticate", 'Token realm="api"')]


def token_caller_or_401(secret):
    """(user id, user or None) of the active user owning this token (``tokens.token_caller``), or a 401 in DRF's
    words."""
    if not secret or " " in secret:
        raise NotAuthenticated("Invalid token header. No credentials provided.")
    caller = token_caller(secret)
    if caller is None:
        raise NotAuthenticated("Invalid token.")
    return caller


def defers_csrf(view):
    """Mark a view that checks CSRF itself, after setting its upload limit (reading the form parses the files)."""
    view.defers_csrf = True
    return view


def check_session_csrf():
    """For cookie-authenticated unsafe requests: a valid CSRF token, or a 403 in DRF's words."""
    if g.get("api_auth") != "session" or request.method in SAFE_METHODS:
        return
    try:
        csrf.protect()
    except CSRFError as error:
        raise Forbidden(f"CSRF Failed: {error.description}") from None


@bp.before_request
def authenticate():
    g.api_user, g.api_user_id, g.api_auth = None, None, None
    secret = presented_secret()
    if secret is not None:
        (g.api_user_id, g.api_user), g.api_auth = token_caller_or_401(secret), "token"
    elif current_user.is_authenticated:
        g.api_user, g.api_auth = current_user._get_current_object(), "session"
    view = current_app.view_functions.get(request.endpoint)
    if not getattr(view, "defers_csrf", False):
        check_session_csrf()


def api_user():
    """The caller's user, or None for an anonymous caller; a kept token's user is loaded when first asked for."""
    user = g.get("api_user")
    if user is None and g.get("api_user_id") is not None:
        user = g.api_user = db.session.get(User, g.api_user_id)
        if user is None:  # deleted since its token was checked
            raise NotAuthenticated("Invalid token.")
    return user


def is_anonymous():
    """Whether nobody is authenticated (without loading a kept token's user)."""
    return g.get("api_auth") is None


def require_user():
    """The caller's user, or a 401 when nobody is authenticated."""
    user = api_user()
    if user is None:
        raise NotAuthenticated()
    return user


bp.record_once(lambda state: listen_for_token_changes())
