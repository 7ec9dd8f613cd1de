from flask import Blueprint

bp = Blueprint("accounts", __name__)

from . import preferences, views  # noqa: E402,F401
from .signals import connect_signals  # noqa: E402

connect_signals()
