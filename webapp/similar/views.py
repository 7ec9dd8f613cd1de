"""The search-by-file pages: the form, then the answer (polled until the worker is done)."""

from flask import flash, redirect, render_template, request, url_for
from flask_security import auth_required, current_user
from sqlalchemy.orm import joinedload

from ..extensions import csrf
from ..models import Image, SimilaritySearch
from ..similarity.by_file import own_search_or_404, public_matches, search_limit, start_search
from ..similarity.search import images_by_id
from . import bp

SHOWN = 50


@bp.route("/", methods=["GET", "POST"])
@auth_required("session")
@csrf.exempt
def search():
    """The form; a POST stores the file for a worker and goes to the answer's page."""
    if request.method == "GET":
        return render_template("similar/search.html")
    request.upload_limit = search_limit(request.content_length)
    csrf.protect()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a .nii or .nii.gz file to search with.", "error")
        return render_template("similar/search.html"), 400
    found = start_search(current_user, upload)
    return redirect(url_for("similar.answer", search_id=found.id))


@bp.route("/<search_id>")
@auth_required("session")
def answer(search_id):
    found = own_search_or_404(search_id, current_user)
    matches = public_matches(found)[:SHOWN] if found.status == SimilaritySearch.READY else []
    rows = images_by_id([image_id for image_id, _ in matches], joinedload(Image.collection),
                        joinedload(Image.artifacts))
    items = [(rows[image_id], r) for image_id, r in matches if image_id in rows]
    return render_template("similar/answer.html", search=found, items=items), 200, {"Cache-Control": "no-store"}
