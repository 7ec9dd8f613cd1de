"""An image's page, its status, its file and thumbnails, and the public image list."""

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_security import auth_required, current_user
from flask_wtf import FlaskForm

from ..access import editable_image_or_404, visible_image_or_404
from ..extensions import db
from ..files import delete_stored, nifti_download_name, nifti_mimetype, send_stored
from ..models import Collection, Image
from ..pipeline import queue_processing, reset_for_reprocessing
from . import bp

PER_PAGE = 24


@bp.route("/")
def index():
    query = Image.public_query().where(Image.status == Image.READY)
    search = (request.args.get("q") or "").strip()
    if search:
        pattern = f"%{search}%"
        query = query.where(
            sa.or_(
                Image.name.ilike(pattern),
                Image.description.ilike(pattern),
                Collection.name.ilike(pattern),
                Collection.authors.ilike(pattern),
                Collection.doi.ilike(pattern),
            )
        )
    page_no = max(request.args.get("page", 1, type=int) or 1, 1)
    page = db.paginate(query.order_by(Image.id.desc()), page=page_no, per_page=PER_PAGE, error_out=False)
    return render_template("images/index.html", page=page, q=search)


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


@bp.route("/<int:image_id>")
def detail(image_id):
    image = visible_image_or_404(image_id)
    thumbnails = {artifact.kind: artifact for artifact in image.artifacts} if image.status == Image.READY else {}
    return render_template(
        "images/detail.html",
        image=image,
        thumbnails=thumbnails,
        stats=image.stats.data if image.stats else None,
        can_edit=image.collection.editable_by(current_user),
        form=FlaskForm(),
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
    keys = image.stored_keys
    db.session.delete(image)
    db.session.flush()
    collection.refresh_image_count()
    db.session.commit()
    delete_stored(keys)
    flash(f"Image “{image.name}” deleted.", "success")
    return redirect(url_for("collections.detail", collection_id=collection.id))
