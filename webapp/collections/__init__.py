from flask import Blueprint

bp = Blueprint("collections", __name__)

from . import views  # noqa: E402,F401
