"""HTTP security headers on every response (Flask-Talisman), and the proxy in front of the site.

The Content-Security-Policy allows only the site's own scripts, styles, fetches and
workers: no inline ``<script>``, no ``style=`` attribute, no ``eval``. An HTML
injection that slips past Jinja's escaping therefore runs nothing. NiiVue needs
``data:``/``blob:`` images and ``blob:`` workers, nothing more (checked in Chromium by
``tests/security/test_csp_browser.py``).

TLS is terminated by the proxy, so the site never redirects to https itself; HSTS and
``Secure`` cookies follow ``BASE_URL``.
"""

from flask_talisman import Talisman
from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}

PERMISSIONS_POLICY = {"camera": "()", "microphone": "()", "geolocation": "()", "payment": "()"}


def csp_header_value():
    """The policy as the header spells it, for tests and documentation."""
    return "; ".join(f"{name} {sources}" for name, sources in CONTENT_SECURITY_POLICY.items())


def serves_https(config):
    return config["BASE_URL"].startswith("https://")


def init_security_headers(app):
    """Bind a Talisman of this app's own (it keeps per-app state, and the tests build many apps)."""
    talisman = Talisman()
    talisman.init_app(
        app,
        force_https=False,
        strict_transport_security=serves_https(app.config),
        strict_transport_security_include_subdomains=False,
        content_security_policy=CONTENT_SECURITY_POLICY,
        frame_options="DENY",
        referrer_policy="same-origin",
        feature_policy={},
        permissions_policy=PERMISSIONS_POLICY,
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
        session_cookie_http_only=True,
    )
    app.extensions["talisman"] = talisman


def trust_proxy(app):
    """Take the client address and scheme from ``PROXY_COUNT`` trusted proxies, so that rate limits
    count per visitor, not per proxy, and ``request.is_secure`` sees the visitor's https."""
    hops = app.config.get("PROXY_COUNT", 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
