"""Flask's signed-cookie sessions, with the signer made once per key instead of on every request (decision 0024).

Flask builds an ``itsdangerous`` serializer each time it opens a session, even for a request
that carries no session cookie (most visitors', every API script's), and again each time it
saves one. The serializer depends only on the secret key and its fallbacks, so it is kept per
(key, fallbacks) and a request without the cookie needs none. The cookie's format, its signature
and its lifetime are Flask's own.
"""

from flask.sessions import SecureCookieSessionInterface


class KeptSignerSessionInterface(SecureCookieSessionInterface):
    """``SecureCookieSessionInterface`` that reuses its signer while the keys stay the same."""

    def __init__(self):
        self.signers = {}

    def get_signing_serializer(self, app):
        if not app.secret_key:
            return None
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        signer = self.signers.get(keys)
        if signer is None:
            signer = super().get_signing_serializer(app)
            self.signers = {keys: signer}
        return signer

    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)
