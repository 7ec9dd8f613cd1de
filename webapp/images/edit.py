"""Edit one image's metadata: the fields NeuroVault keeps for a map, on a form an owner fills in.

Only changed fields are written, so values inferred from the file name stay marked as inferred until the
person changes them; a Cognitive Atlas task or contrast keeps its name and id together (``cogatlas``), as
the API does. A new map type redraws the pictures, since the threshold and the colours follow it.
"""

from flask import flash, redirect, render_template, request, url_for
from flask_security import auth_required

from .. import cogatlas
from ..access import editable_image_or_404
from ..extensions import db
from ..inferred import forget_inferred
from ..pipeline import queue_processing, reset_for_reprocessing
from . import bp
from .forms import ImageForm, shown_values


def changed_values(image, values):
    """The submitted values that differ from the image's, with the task/contrast pairs kept whole."""
    changes = {column: value for column, value in values.items() if getattr(image, column) != value}
    return cogatlas.reconciled(changes)


def saved(image, changes):
    """Write the changes; returns whether the map's pictures are being redrawn for a new map type."""
    for column, value in changes.items():
        setattr(image, column, value)
    forget_inferred(image, changes)
    redraw = "map_type" in changes and image.is_final
    if redraw:
        reset_for_reprocessing(image, tell_uploader=False)
    db.session.commit()
    if redraw:
        queue_processing([image.id])
    return redraw


@bp.route("/<int:image_id>/edit", methods=["GET", "POST"])
@auth_required("session")
def edit(image_id):
    image = editable_image_or_404(image_id)
    form = ImageForm(data=shown_values(image))
    if form.validate_on_submit():
        changes = changed_values(image, form.values(request.form))
        if not changes:
            flash("Nothing was changed.", "info")
        elif saved(image, changes):
            flash("Saved. The map type changed, so its pictures and cluster table are being redrawn.", "success")
        else:
            flash("Saved.", "success")
        return redirect(url_for("images.detail", image_id=image.id))
    return render_template("images/edit.html", form=form, image=image), 400 if form.errors else 200
