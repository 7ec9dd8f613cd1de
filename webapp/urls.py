"""Absolute links built on ``BASE_URL``, for emails, pages, API JSON and tus, inside or outside a request.

A link built from the request's ``Host`` header points wherever the sender of that header wants:
a password-reset link requested with ``Host: evil.example.org`` would mail the victim's token to
the attacker. So every absolute URL, ours and Flask-Security's (``url_for(..., _external=True)``),
is ``BASE_URL`` followed by the route's path; ``TRUSTED_HOSTS`` refuses other hosts besides.
"""

from flask import Flask, current_app, has_request_context


def route_path(app, endpoint, **values):
    """The route's path (with its query string), built in a request for ``BASE_URL`` when there is none."""
    if has_request_context():
        return Flask.url_for(app, endpoint, _external=False, **values)
    with app.test_request_context("/", base_url=app.config["BASE_URL"]):
        return Flask.url_for(app, endpoint, _external=False, **values)


class BaseUrlFlask(Flask):
    """A Flask whose external URLs all start with ``BASE_URL``, never with the request's host or scheme."""

    def url_for(self, /, endpoint, *, _anchor=None, _method=None, _scheme=None, _external=None, **values):
        if _external is None:
            _external = not has_request_context()
        if not _external:
            return super().url_for(endpoint, _anchor=_anchor, _method=_method, _scheme=_scheme, **values)
        return self.config["BASE_URL"] + route_path(self, endpoint, _anchor=_anchor, _method=_method, **values)


def absolute_url(endpoint, **values):
    """``BASE_URL`` followed by the route's path, so links are right behind a proxy and from a worker."""
    return current_app.url_for(endpoint, _external=True, **values)
