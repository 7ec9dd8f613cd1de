from flask import Blueprint

bp = Blueprint("images", __name__)

from . import compare, edit, views  # noqa: E402,F401
