"""The upload page: several files at once, streamed to storage, each queued after its row is committed."""

import functools

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_security import auth_required, current_user

from .. import quota
from ..access import editable_collection_or_404
from ..batches import queue_import
from ..callers import session_user
from ..extensions import csrf, db
from ..ingest import check_pending_images, reserve_upload_bytes
from ..pipeline import queue_processing
from . import bp
from .batch_views import accept_files, batch_link


def wants_json():
    return request.accept_mimetypes.best == "application/json"


def form_error(collection, message, status=400):
    """Re-render the upload form with the message (or answer JSON to the script)."""
    if wants_json():
        return jsonify(detail=message), status
    flash(message, "error")
    return render_template("uploads/upload.html", collection=collection), status


def reserves_quota_first(view):
    """Reserve the signed-in user's quota for a POST before ``auth_required`` runs: its CSRF check reads the body.

    The reservation is the request's byte budget, so it must exist before the first part is parsed.
    """

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        user = session_user()
        if request.method == "POST" and user is not None:
            request.upload_limit = reserve_upload_bytes(user, request.content_length)
        return view(*args, **kwargs)

    return wrapper


@bp.route("/<int:collection_id>/upload", methods=["GET", "POST"])
@reserves_quota_first
@auth_required("session")
@csrf.exempt
def upload(collection_id):
    collection = editable_collection_or_404(collection_id)
    if request.method == "GET":
        return render_template("uploads/upload.html", collection=collection)
    csrf.protect()
    files = [f for f in request.files.getlist("file") if f and f.filename]
    if not files:
        return form_error(collection, "Choose at least one .nii or .nii.gz file, a .hdr/.img pair or an archive "
                                      "(.zip, .tar, .tar.gz) to upload.")
    check_pending_images(current_user, pending_new=len(files))
    images, sent = accept_files(collection, current_user, files)
    quota.settle()
    db.session.commit()
    queue_processing([image.id for image in images])
    for batch in sent:
        queue_import(batch.id)
    if wants_json():
        payload = [
            {"id": i.id, "name": i.name, "url": url_for("images.detail", image_id=i.id), "status": i.status}
            for i in images
        ]
        return jsonify(images=payload, batches=[batch_link(batch) for batch in sent]), 201
    if sent:
        flash("Uploaded; the archive or pair is being unpacked. This page lists what becomes of each file.",
              "success")
        return redirect(url_for("uploads.batch", batch_id=sent[0].id))
    count = f"{len(images)} file{'s' if len(images) != 1 else ''}"
    flash(f"{count} uploaded; you will get an email when each is processed.", "success")
    if len(images) == 1:
        return redirect(url_for("images.detail", image_id=images[0].id))
    return redirect(url_for("collections.detail", collection_id=collection.id))
