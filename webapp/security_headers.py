"""HTTP security headers on every response, and the proxy in front of the site.

The Content-Security-Policy allows only the site's own scripts, styles, fetches and
workers: no inline ``<script>``, no ``style=`` attribute, no ``eval``. An HTML
injection that slips past Jinja's escaping therefore runs nothing. NiiVue needs
``data:``/``blob:`` images and ``blob:`` workers, nothing more (checked in Chromium by
``tests/security/test_csp_browser.py``).

TLS is terminated by the proxy, so the site never redirects to https itself; HSTS and
``Secure`` cookies follow ``BASE_URL``.

The headers are the same on every answer, so they are spelled once when the app is built and
copied onto each response (decision 0024): Flask-Talisman, used before, parsed its policies again
for every request. The values are Talisman's, byte for byte (``tests/security/test_headers.py``).
"""

from flask import request
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


#: Sent on an https request of a site whose ``BASE_URL`` is https (one year, as Talisman sent it).
HSTS_VALUE = "max-age=31556926"


def permissions_policy_value():
    return ", ".join(f"{feature}={allowed}" for feature, allowed in PERMISSIONS_POLICY.items())


def every_answers_headers():
    """The headers every answer carries, in the order Talisman set them."""
    return (
        ("Permissions-Policy", permissions_policy_value()),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", csp_header_value()),
        ("Referrer-Policy", "same-origin"),
    )


def came_over_https():
    """Whether the visitor's request came over https (itself, or as the proxy's ``X-Forwarded-Proto`` says)."""
    return request.is_secure or request.headers.get("X-Forwarded-Proto", "http") == "https"


def init_security_headers(app):
    """Put the precomputed headers on every response; HSTS on https requests of an https site."""
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    headers = every_answers_headers()
    with_hsts = serves_https(app.config)

    def add_security_headers(response):
        target = response.headers
        for name, value in headers:
            target[name] = value
        if with_hsts and came_over_https():
            target["Strict-Transport-Security"] = HSTS_VALUE
        return response

    app.after_request(add_security_headers)


def trust_proxy(app):
    """Take the client address and scheme from ``PROXY_COUNT`` trusted proxies, so that rate limits
    count per visitor, not per proxy, and ``request.is_secure`` sees the visitor's https."""
    hops = app.config.get("PROXY_COUNT", 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
