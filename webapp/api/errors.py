"""The API's error shape: ``{"detail": ...}``, or field name → messages for a 400 (NeuroVault's, via DRF)."""

from flask import current_app
from werkzeug.exceptions import BadRequest, HTTPException

from ..errors import TITLES
from ..extensions import db
from . import bp

DETAILS = {
    401: "Authentication credentials were not provided.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
}


class FieldErrors(BadRequest):
    """A 400 whose body names each bad field and what is wrong with it."""

    def __init__(self, fields):
        super().__init__("Some fields are not valid.")
        self.fields = fields


def error_response(status, message=None, **fields):
    """A JSON error response: the fields when given, else ``detail``."""
    body = fields or {"detail": message or DETAILS.get(status) or TITLES.get(status, "Error")}
    response = current_app.json.response(body)
    response.status_code = status
    return response


def field_error(name, message):
    return FieldErrors({name: [message]})


@bp.errorhandler(HTTPException)
def handle_http_error(error):
    """Errors raised inside API views keep their status and headers but always answer JSON."""
    if isinstance(error, FieldErrors):
        db.session.rollback()
        return error_response(400, **error.fields)
    code = error.code or 500
    message = error.description if error.description != type(error).description else None
    response = error_response(code, message)
    for name, value in error.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response
