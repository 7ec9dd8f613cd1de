"""Images: the public list, one image (read, change, delete), its original file and its glass brain."""

import functools

from flask import abort, redirect, request

from ..autocommit import reads_without_transaction
from ..extensions import db
from ..files import delete_image, send_stored
from ..models import Image
from ..pagecache import IMAGES_LIST, SITE, kept_while_current, reads_generations, shared_with_visitors
from ..regions import clean_region, in_region
from . import bp
from .downloads import NIFTI_GZ, send_gzipped_nifti, url_file_name
from .lookup import IMAGE_LOADING, editable_image, visible_image
from .paging import page_of
from .parsing import body_fields, image_fields
from .serializers import file_url, image_json

SLASHLESS = {"strict_slashes": False}
IMAGE_ID = "<int(max=2147483647):image_id>"


@bp.route("/images/", **SLASHLESS)
@shared_with_visitors
@reads_generations(SITE, IMAGES_LIST)
@reads_without_transaction
def images():
    """Ready images of public collections, oldest first (what NeuroVault's ``/api/images/`` lists).

    ``count`` stays exact (nilearn and pynv read it) but comes from the collections' stored counts
    (``Image.public_ready_count``, kept while the list's generation lasts, the number the web list shows),
    so a page costs the same with 1,000 or 100,000 rows; a deep offset starts
    from a kept checkpoint (``checkpoints.checkpoint_start``), so offset 900,000 costs about what offset 0 costs.
    ``region`` keeps the maps with a peak, or a large part of a cluster, in a region whose name contains it.
    """
    query = public_ready_images()
    region = clean_region(request.args.get("region"))
    if region:
        return page_of(query.where(in_region(region)), image_json, model=Image, list_scope=IMAGES_LIST)
    count = kept_while_current("public_ready_count", [IMAGES_LIST], Image.public_ready_count)
    return page_of(query, image_json, count=count, model=Image, checkpoints=("api.images", IMAGES_LIST),
                   list_scope=IMAGES_LIST)


@functools.cache
def public_ready_images():
    """The public list's query, the same object for every request (its page's statements are built once from it,
    ``paging.public_page_pairs``)."""
    return Image.public_query().where(Image.status == Image.READY).options(*IMAGE_LOADING).order_by(Image.id)


@bp.route(f"/images/{IMAGE_ID}/", methods=["GET", "PATCH", "DELETE"], **SLASHLESS)
@shared_with_visitors
def image_detail(image_id):
    if request.method == "GET":
        return image_json(visible_image(image_id))
    image = editable_image(image_id)
    if request.method == "DELETE":
        delete_image(image)
        return "", 204
    changes, extra = image_fields(body_fields(), editing=True)
    for column, value in changes.items():
        setattr(image, column, value)
    if extra:
        image.extra = {**(image.extra or {}), **extra}
    db.session.commit()
    return image_json(image)


@bp.route(f"/images/{IMAGE_ID}/file", **SLASHLESS)
def image_file(image_id):
    """The map's bytes at the URL of earlier releases (``?share_token=`` for a private map): still served."""
    image = visible_image(image_id)
    return send_gzipped_nifti(image)


@bp.route(f"/images/{IMAGE_ID}/<file_name>")
@bp.route(f"/images/{IMAGE_ID}/<share_token>/<file_name>")
def image_named_file(image_id, file_name, share_token=None):
    """The map's bytes at the ``file`` URL, whose last part is its file name (NiMARE saves it under that name).

    A private map's URL carries the share token as a path part, so the name stays last. Any other
    name ending in ``.nii.gz`` redirects to the map's one canonical URL (one URL, one cache entry).
    """
    if not file_name.endswith(NIFTI_GZ):
        abort(404)
    image = visible_image(image_id, share_token)
    if file_name != url_file_name(image):
        return redirect(file_url(image), 302)
    return send_gzipped_nifti(image)


@bp.route(f"/images/{IMAGE_ID}/thumbnail.png", **SLASHLESS)
def image_thumbnail(image_id):
    image = visible_image(image_id)
    artifact = image.artifact("glass_brain") if image.status == Image.READY else None
    if artifact is None:
        abort(404)
    return send_stored(artifact.storage_key, mimetype="image/png", max_age=300)
