"""Absolute links built on ``BASE_URL``, for emails and API JSON, inside or outside a request."""

from flask import current_app, has_request_context, url_for


def absolute_url(endpoint, **values):
    """``BASE_URL`` followed by the route's path, so links are right behind a proxy and from a worker."""
    if has_request_context():
        path = url_for(endpoint, **values)
    else:
        with current_app.test_request_context("/"):
            path = url_for(endpoint, **values)
    return current_app.config["BASE_URL"] + path
