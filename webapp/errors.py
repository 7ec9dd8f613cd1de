"""App-wide error pages: HTML in the site's layout, JSON with ``detail`` for the API and for scripts."""

from flask import current_app, render_template, request
from sqlalchemy.exc import DataError
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, SecurityError

from .extensions import db

TITLES = {
    400: "Bad request",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition failed",
    413: "Too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Something went wrong",
}


def wants_json():
    """Whether the caller is a script: an API path, or JSON preferred over HTML."""
    if request.path.startswith("/api/") or request.path == "/api":
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status, message=None, headers=(), **fields):
    """The one error response, shaped for whoever asked: JSON (``detail``, or field name → messages for a
    bad form, NeuroVault's shape) for the API and scripts, the site's error page for browsers.

    ``headers`` are the error's own (``Retry-After``, ``WWW-Authenticate``, ``Allow``), kept on the response.
    """
    detail = message or TITLES.get(status, "Error")
    if fields or wants_json():
        response = current_app.json.response(fields or {"detail": detail})
        response.status_code = status
    else:
        body = render_template("errors/error.html", code=status, title=TITLES.get(status, "Error"), detail=detail)
        response = current_app.response_class(body, status=status, mimetype="text/html")
    for name, value in headers:
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


def handle_http_error(error):
    return error_response(error.code or 500, error.description, error.get_headers())


def handle_untrusted_host(error):
    """A request for a host not in ``TRUSTED_HOSTS``: a plain 400 (no page: nothing can be linked on that host)."""
    current_app.logger.info("refused a request for an untrusted host: %s", error.description)
    return current_app.response_class(
        f"400 Bad Request: {error.description}\n", status=400, mimetype="text/plain"
    )


def handle_unexpected_error(error):
    """Roll back whatever the request left half-done, log it, and answer a plain 500."""
    db.session.rollback()
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(InternalServerError.code, "An unexpected error happened on our side; it has been logged.")


def handle_unstorable_value(error):
    """A value the database refuses (a NUL byte, a number past its integers) came from the request: a 400, not a 500."""
    db.session.rollback()
    current_app.logger.info("refused a value the database cannot store on %s %s: %s", request.method, request.path,
                            error.orig)
    return error_response(BadRequest.code, "The request holds a value that cannot be stored: a NUL byte, or a "
                                           "number too large. Remove it and try again.")


def init_error_handlers(app):
    app.register_error_handler(SecurityError, handle_untrusted_host)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(DataError, handle_unstorable_value)
    app.register_error_handler(Exception, handle_unexpected_error)
