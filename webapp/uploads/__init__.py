from flask import Blueprint

bp = Blueprint("uploads", __name__)

from . import originals, views  # noqa: E402,F401
