"""Edit many images at once: set map type, modality, analysis level, subjects, template and contrast for a selection.

What NeuroVault added in 2025; here it is also how inferred metadata (``extra["inferred"]``) is corrected in bulk.
Only the collection's editors reach it; the form carries the CSRF token like every other.
"""

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_security import auth_required

from ..access import editable_collection_or_404
from ..extensions import db
from ..models import Image
from ..vocab import ANALYSIS_LEVELS, MAP_TYPES, MODALITIES, TEMPLATES
from . import bp
from .changes import MAX_CONTRAST, apply_changes, checked_changes, described

MAX_LISTED = 1000


def selected_images(collection, form):
    """The images of this collection whose ids were ticked; ids of other collections are ignored."""
    ids = {int(value) for value in form.getlist("image") if value.isdigit() and len(value) <= 10}
    if not ids:
        return []
    return db.session.scalars(
        sa.select(Image).where(Image.collection_id == collection.id, Image.id.in_(ids)).order_by(Image.id)).all()


def page(collection, errors=(), status=200):
    images = db.session.scalars(
        sa.select(Image).where(Image.collection_id == collection.id).order_by(Image.id).limit(MAX_LISTED)).all()
    ticked = set(request.form.getlist("image")) if request.method == "POST" else set(request.args.getlist("image"))
    return render_template("bulkedit/edit.html", collection=collection, images=images, errors=errors,
                           ticked=ticked, max_listed=MAX_LISTED, map_types=MAP_TYPES, levels=ANALYSIS_LEVELS,
                           modalities=MODALITIES, templates=TEMPLATES, form=request.form,
                           max_contrast=MAX_CONTRAST), status


@bp.route("/<int:collection_id>/bulk-edit", methods=["GET", "POST"])
@auth_required("session")
def edit(collection_id):
    collection = editable_collection_or_404(collection_id)
    if request.method == "GET":
        return page(collection)
    changes, errors = checked_changes(request.form)
    images = selected_images(collection, request.form)
    if not images:
        errors.append("image: tick at least one image to change.")
    if not changes and not errors:
        errors.append("Choose at least one field to set; blank fields are left as they are.")
    if errors:
        return page(collection, errors, 400)
    for image in images:
        apply_changes(image, changes)
    db.session.commit()
    flash(f"Set {described(changes)} on {len(images)} image{'s' if len(images) != 1 else ''}.", "success")
    return redirect(url_for("bulkedit.edit", collection_id=collection.id))
