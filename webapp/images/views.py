"""An image's page, its status, its file and thumbnails, and the public image list."""

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_security import auth_required, current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import contains_eager, joinedload

from ..access import editable_image_or_404, visible_image_or_404
from ..extensions import db
from ..files import delete_image, nifti_download_name, nifti_mimetype, send_stored
from ..listing import SORTS, ImageFilters, page_number
from ..models import Image
from ..pagecache import shared_with_visitors
from ..pipeline import queue_processing, reset_for_reprocessing
from ..vocab import MODALITIES
from . import bp, ondemand

PER_PAGE = 24
#: What the image page reads besides the image, fetched in the same query (five round trips were one per relation).
PAGE_LOADING = (
    joinedload(Image.collection),
    joinedload(Image.uploader),
    joinedload(Image.stats),
    joinedload(Image.artifacts),
)


@bp.route("/")
@shared_with_visitors
def index():
    """Ready public maps, searched, filtered and sorted; each card's collection comes from the same join."""
    filters = ImageFilters.from_request()
    ready = Image.public_query().where(Image.status == Image.READY).options(contains_eager(Image.collection))
    query = filters.apply(ready)
    page = paginate_counted(query, None if filters.narrowed else Image.public_ready_count())
    modalities = [(name, name) for name in MODALITIES]
    return render_template("images/index.html", page=page, filters=filters, sorts=SORTS, modalities=modalities)


def paginate_counted(query, total):
    """``db.paginate`` with a total already known (from stored counts), which spares it a COUNT over the join.

    With ``total`` None (a search or a filter is set) the database counts as usual.
    """
    if total is None:
        return db.paginate(query, page=page_number(), per_page=PER_PAGE, error_out=False)
    page = db.paginate(query, page=page_number(), per_page=PER_PAGE, error_out=False, count=False)
    page.total = total
    return page


def status_payload(image):
    """What the status poller needs: where the image is and since when."""
    return {
        "id": image.id,
        "status": image.status,
        "final": image.is_final,
        "since": image.status_changed_at.isoformat() if image.status_changed_at else None,
        "error": image.error,
        "url": url_for("images.detail", image_id=image.id),
    }


def viewer_range(stats):
    """The map's value range for the viewer, over every volume; None where the stats do not cover all of them.

    The stats' own min/max describe the first volume only, and the per-volume list stops at
    MAX_VOLUMES_LISTED: past that the viewer reads the range from the data itself.
    """
    if not stats:
        return {"volumes": 1, "min": None, "max": None, "signed": True}
    listed = stats.get("volumes") or []
    n_volumes = stats.get("n_volumes") or 1
    if n_volumes > 1 and (stats.get("volumes_truncated") or len(listed) < n_volumes):
        return {"volumes": n_volumes, "min": None, "max": None, "signed": True}
    known = [v for v in listed if v.get("min") is not None and v.get("max") is not None]
    if known:
        low, high = min(v["min"] for v in known), max(v["max"] for v in known)
    else:
        low, high = stats.get("min"), stats.get("max")
    return {"volumes": n_volumes, "min": low, "max": high, "signed": low is None or low < 0}


#: The CSS width each thumbnail is shown at; one drawn at least 1.5 times wider is for high-density screens.
THUMBNAIL_WIDTHS = {"glass_brain": 480, "ortho": 600, "axial_mosaic": 600, "mosaic": 600}


def shown_size(artifact):
    """(width, height, density) to show a thumbnail at: retina pictures at half their pixel size, with srcset."""
    css = THUMBNAIL_WIDTHS.get(artifact.kind)
    if css and artifact.width and artifact.height and artifact.width >= 1.5 * css:
        return artifact.width // 2, artifact.height // 2, 2
    return artifact.width, artifact.height, 1


@bp.route("/<int:image_id>")
@shared_with_visitors
def detail(image_id):
    image = visible_image_or_404(image_id, options=PAGE_LOADING)
    can_edit = image.collection.editable_by(current_user)
    thumbnails = {artifact.kind: artifact for artifact in image.artifacts
                  if artifact.kind in THUMBNAIL_WIDTHS} if image.status == Image.READY else {}
    return render_template(
        "images/detail.html",
        image=image,
        thumbnails=thumbnails,
        sizes={kind: shown_size(artifact) for kind, artifact in thumbnails.items()},
        stats=image.stats.data if image.stats else None,
        viewer=viewer_range(image.stats.data if image.stats else None),
        can_edit=can_edit,
        form=FlaskForm() if can_edit else None,
    )


@bp.route("/<int:image_id>/status")
def status(image_id):
    image = visible_image_or_404(image_id)
    response = status_payload(image)
    return response, 200, {"Cache-Control": "no-store"}


@bp.route("/<int:image_id>/file")
def download(image_id):
    image = visible_image_or_404(image_id)
    name = nifti_download_name(image)
    return send_stored(image.storage_key, mimetype=nifti_mimetype(name), name=name, as_attachment=True)


@bp.route("/<int:image_id>/thumbnails/<kind>.png")
def thumbnail(image_id, kind):
    image = visible_image_or_404(image_id)
    artifact = image.artifact(kind)
    if artifact is None:
        abort(404)
    return send_stored(artifact.storage_key, mimetype="image/png", max_age=300)


@bp.route("/<int:image_id>/slices.png")
def slices_png(image_id):
    """A slice or a mosaic drawn for the URL's parameters (see ``ondemand``), kept for the next request."""
    image = visible_image_or_404(image_id, options=(joinedload(Image.stats),))
    if image.status != Image.READY:
        abort(404)
    kept_or_png, hit = ondemand.picture(image, ondemand.parse(request.args))
    if isinstance(kept_or_png, bytes):
        scope = "private" if image.collection.private else "public"
        response = Response(kept_or_png, mimetype="image/png", headers={"Cache-Control": f"{scope}, max-age=300"})
    else:
        response = send_stored(kept_or_png, mimetype="image/png", max_age=300)
    response.headers["X-Slices-Cache"] = "hit" if hit else "miss"
    return response


@bp.route("/<int:image_id>/reprocess", methods=["POST"])
@auth_required("session")
def reprocess(image_id):
    image = editable_image_or_404(image_id)
    if not image.is_final:
        flash("This image is still being processed.", "info")
    else:
        reset_for_reprocessing(image)
        db.session.commit()
        queue_processing([image.id])
        flash("The image was sent for processing again.", "success")
    return redirect(url_for("images.detail", image_id=image.id))


@bp.route("/<int:image_id>/delete", methods=["POST"])
@auth_required("session")
def delete(image_id):
    image = editable_image_or_404(image_id)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400, "The form expired; please try again.")
    collection = image.collection
    delete_image(image)
    flash(f"Image “{image.name}” deleted.", "success")
    return redirect(url_for("collections.detail", collection_id=collection.id))
