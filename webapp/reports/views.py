"""Reporting a public map or collection to the administrators (signed-in visitors, rate limited).

Only what the visitor can see can be reported; the report lands in the admin area's list.
The POSTs share the ``RATELIMIT_REPORTS`` budget (``webapp/ratelimits.py``).
"""

from flask import flash, redirect, render_template, request, url_for
from flask_security import auth_required, current_user

from ..access import visible_collection_or_404, visible_image_or_404
from ..extensions import db
from ..models import Report
from . import bp

MAX_TEXT = 2000


def report_form(target, kind, back_url, report_fields):
    """Show the form, or store the report and go back to the page it was about."""
    errors = {}
    reason = request.form.get("reason", "")
    text = (request.form.get("text") or "").strip()
    if request.method == "POST":
        if reason not in Report.REASONS:
            errors["reason"] = f"reason={reason!r}: choose one of the listed reasons."
        if len(text) > MAX_TEXT:
            errors["text"] = f"text: at most {MAX_TEXT} characters, this is {len(text)}."
        if not errors:
            db.session.add(Report(reporter_id=current_user.id, reason=reason, text=text, **report_fields))
            db.session.commit()
            flash("Thank you: the administrators will look at your report.", "success")
            return redirect(back_url)
    page = render_template("reports/form.html", target=target, kind=kind, reasons=Report.REASONS, errors=errors,
                           reason=reason, text=text, back_url=back_url)
    return page, 400 if errors else 200


@bp.route("/images/<int:image_id>/report", methods=["GET", "POST"])
@auth_required("session")
def report_image(image_id):
    image = visible_image_or_404(image_id)
    return report_form(image, "map", url_for("images.detail", image_id=image.id), {"image_id": image.id})


@bp.route("/collections/<int:collection_id>/report", methods=["GET", "POST"])
@auth_required("session")
def report_collection(collection_id):
    collection = visible_collection_or_404(collection_id)
    return report_form(collection, "collection", url_for("collections.detail", collection_id=collection.id),
                       {"collection_id": collection.id})
