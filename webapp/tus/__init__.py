"""Resumable uploads (tus 1.0) at ``/api/uploads/``: the protocol layer is ours, over ``storage.py``.

See ``docs/decisions/`` for why no library, and ``docs/uploading.md`` for clients.
"""

from flask import Blueprint

from ..extensions import csrf

bp = Blueprint("tus", __name__)
csrf.exempt(bp)

from . import views  # noqa: E402,F401
