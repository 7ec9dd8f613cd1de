"""The NeuroVault-compatible JSON API."""

from flask import url_for

from . import bp


@bp.route("/", strict_slashes=False)
def index():
    return {
        "collections": url_for("api.index", _external=True) + "collections/",
        "images": url_for("api.index", _external=True) + "images/",
    }
