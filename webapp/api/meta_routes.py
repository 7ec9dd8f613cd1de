"""The API's index, the caller's account, and its description: OpenAPI JSON and the human page."""

from flask import render_template

from ..urls import absolute_url
from . import bp
from .auth import require_user
from .openapi import openapi_document, operations
from .serializers import user_json

SLASHLESS = {"strict_slashes": False}


@bp.route("/", **SLASHLESS)
def index():
    return {
        "collections": absolute_url("api.collections"),
        "my_collections": absolute_url("api.my_collections"),
        "images": absolute_url("api.images"),
        "user": absolute_url("api.user"),
        "openapi": absolute_url("api.openapi"),
        "docs": absolute_url("api.docs"),
    }


@bp.route("/user", **SLASHLESS)
def user():
    return user_json(require_user())


@bp.route("/openapi.json")
def openapi():
    return openapi_document()


@bp.route("/docs", **SLASHLESS)
def docs():
    document = openapi_document()
    return render_template("api/docs.html", document=document, operations=operations(document))
