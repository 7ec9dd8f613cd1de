"""The NeuroVault-compatible JSON API at ``/api`` (see ``docs/api.md``).

Token-authenticated requests carry no cookie to forge, so the blueprint is
exempt from the site-wide CSRF check; ``auth.py`` checks CSRF itself for
requests authenticated by the browser session.
"""

from flask import Blueprint

from ..extensions import csrf

bp = Blueprint("api", __name__)
csrf.exempt(bp)

from . import auth, collection_routes, cors, errors, image_routes, meta_routes, similar_routes  # noqa: E402,F401
