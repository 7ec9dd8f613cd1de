"""The profile's email preference: one email per batch of files sent together (the default), or one per map."""

from flask import abort, flash, redirect, request, url_for
from flask_security import auth_required, current_user

from ..extensions import db
from ..text import one_line
from . import bp

CHOICES = {"batch": False, "file": True}


@bp.route("/email-preference", methods=["POST"])
@auth_required("session")
def email_preference():
    choice = request.form.get("emails", "")
    if choice not in CHOICES:
        shown = one_line(choice)[:40] or "(none)"
        abort(400, f"emails={shown}: expected 'batch' (one email per batch) or 'file' (one per map).")
    current_user.email_per_file = CHOICES[choice]
    db.session.commit()
    flash("You will get one email per map." if CHOICES[choice] else
          "You will get one email for the files you send together.", "success")
    return redirect(url_for("accounts.profile"))
