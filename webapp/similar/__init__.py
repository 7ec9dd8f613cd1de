"""Search by file: ``/similar`` takes a NIfTI that is never published and lists the public maps most like it."""

from flask import Blueprint

bp = Blueprint("similar", __name__)

from . import views  # noqa: E402,F401
