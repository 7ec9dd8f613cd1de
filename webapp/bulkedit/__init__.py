from flask import Blueprint

bp = Blueprint("bulkedit", __name__)

from . import views  # noqa: E402,F401
