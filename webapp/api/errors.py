"""The API's error shape: ``{"detail": ...}``, or field name → messages for a 400 (NeuroVault's, via DRF)."""

from werkzeug.exceptions import BadRequest, HTTPException

from ..errors import error_response
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


def field_error(name, message):
    return FieldErrors({name: [message]})


@bp.errorhandler(HTTPException)
def handle_http_error(error):
    """Errors raised inside API views keep their status and headers but always answer JSON."""
    if isinstance(error, FieldErrors):
        db.session.rollback()
        return error_response(400, **error.fields)
    code = error.code or 500
    message = error.description if error.description != type(error).description else DETAILS.get(code)
    return error_response(code, message, error.get_headers())
