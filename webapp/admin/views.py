"""The admin area: users and their limits, collections and images, takedowns, uploads, reports, the dashboard.

Only users with the ``admin`` role get in; everyone else (anonymous included) gets a 404, as for a
page that does not exist. Every change is a POST checked by the site-wide CSRF protection.
"""

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_security import current_user
from sqlalchemy.orm import joinedload

from ..access import row_or_none
from ..dashboard import dashboard
from ..extensions import db, security
from ..limits import parse_size, pending_limit_for, quota_bytes_for
from ..listing import matches_any, page_number
from ..models import Collection, Image, Report, Upload, User, utcnow
from ..moderation import (
    delete_collection_for,
    delete_image_for,
    republish,
    unpublish_collection,
    unpublish_image,
)
from ..pipeline import queue_processing, reset_for_reprocessing
from . import bp

PER_PAGE = 50


@bp.before_request
def admins_only():
    if not (current_user.is_authenticated and current_user.has_role("admin")):
        abort(404)


def paged(query):
    return db.paginate(query, page=page_number(), per_page=PER_PAGE, error_out=False)


def search_words():
    return (request.args.get("q") or "").strip()[:200]


def row_or_404(model, row_id):
    row = row_or_none(model, row_id)
    if row is None:
        abort(404)
    return row


def back(default_endpoint, **values):
    """Back to the list the form was on (a local path only), else the default page."""
    target = request.form.get("next") or ""
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for(default_endpoint, **values))


@bp.route("/")
def index():
    return render_template("admin/dashboard.html", board=dashboard(), open_reports=open_report_count())


def open_report_count():
    return db.session.scalar(sa.select(sa.func.count(Report.id)).where(Report.resolved_at.is_(None)))


# users ---------------------------------------------------------------------------------------


def bytes_stored_by(user_ids):
    """{user id: bytes of their uploads} for the users of one page, in one query."""
    rows = db.session.execute(
        sa.select(Image.uploader_id, sa.func.sum(Image.file_size))
        .where(Image.uploader_id.in_(user_ids))
        .group_by(Image.uploader_id)
    ).all()
    return {user_id: used or 0 for user_id, used in rows}


@bp.route("/users")
def users():
    words = search_words()
    query = sa.select(User).options(joinedload(User.roles)).order_by(User.id)
    if words:
        query = query.where(matches_any([User.email, User.username], words))
    page = paged(query)
    used = bytes_stored_by([person.id for person in page.items])
    return render_template("admin/users.html", page=page, words=words, used=used)


@bp.route("/users/<int:user_id>")
def user(user_id):
    person = row_or_404(User, user_id)
    return render_template(
        "admin/user.html",
        person=person,
        used=person.bytes_stored(),
        pending=person.pending_image_count(),
        quota=quota_bytes_for(person),
        pending_limit=pending_limit_for(person),
    )


def limit_from_form(name, parse):
    """A limit from the form: blank is the site default (None); a bad value is a flashed error naming it."""
    text = (request.form.get(name) or "").strip()
    if not text:
        return None
    try:
        value = parse(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{name}={text!r}: expected a size such as 50GiB (quota) or a whole number (pending)")
    return value


@bp.route("/users/<int:user_id>/limits", methods=["POST"])
def user_limits(user_id):
    person = row_or_404(User, user_id)
    try:
        person.quota_bytes = limit_from_form("quota", parse_size)
        person.max_pending_images = limit_from_form("pending", int)
    except ValueError as problem:
        db.session.rollback()
        flash(str(problem), "error")
        return redirect(url_for("admin.user", user_id=user_id)), 303
    db.session.commit()
    flash(f"Limits of {person.email} saved.", "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
def user_active(user_id):
    person = row_or_404(User, user_id)
    if request.form.get("action") == "deactivate":
        if person.id == current_user.id:
            abort(400, "You cannot deactivate yourself.")
        set_active(person, False)
        flash(f"{person.email} is deactivated: signed out, and their API tokens no longer work.", "success")
    else:
        set_active(person, True)
        flash(f"{person.email} is active again.", "success")
    return back("admin.user", user_id=user_id)


def set_active(person, active):
    """Deactivating also changes the user's uniquifier, which ends every session they have."""
    datastore = security.datastore
    if active:
        datastore.activate_user(person)
    else:
        datastore.deactivate_user(person)
        datastore.set_uniquifier(person)
    db.session.commit()


@bp.route("/users/<int:user_id>/admin", methods=["POST"])
def user_admin(user_id):
    person = row_or_404(User, user_id)
    datastore = security.datastore
    if request.form.get("action") == "revoke":
        if person.id == current_user.id:
            abort(400, "You cannot take the admin role from yourself.")
        datastore.remove_role_from_user(person, "admin")
        flash(f"{person.email} is no longer an administrator.", "success")
    else:
        datastore.add_role_to_user(person, datastore.find_or_create_role("admin", description="Site administrator"))
        flash(f"{person.email} is now an administrator.", "success")
    db.session.commit()
    return back("admin.user", user_id=user_id)


# images --------------------------------------------------------------------------------------


@bp.route("/images")
def images():
    words = search_words()
    status = request.args.get("status", "")
    query = sa.select(Image).options(joinedload(Image.collection), joinedload(Image.uploader)).order_by(Image.id.desc())
    if status in Image.STATUSES:
        query = query.where(Image.status == status)
    elif status == "unpublished":
        query = query.where(Image.unpublished_reason.isnot(None))
    if words:
        query = query.where(matches_any([Image.name, Image.original_filename, Image.error], words))
    return render_template("admin/images.html", page=paged(query), words=words, status=status,
                           statuses=Image.STATUSES)


@bp.route("/images/reprocess", methods=["POST"])
def reprocess():
    ids = [int(value) for value in request.form.getlist("image_id") if value.isdigit() and len(value) < 10]
    found = db.session.scalars(sa.select(Image).where(Image.id.in_(ids))).all() if ids else []
    for image in found:
        reset_for_reprocessing(image)
    db.session.commit()
    queue_processing([image.id for image in found])
    flash(f"{len(found)} image(s) sent to the workers again.", "success" if found else "error")
    return back("admin.images")


def given_reason():
    """The takedown's reason from the form; an empty one is flashed as missing and nothing is done."""
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        flash("reason: write the reason the owner will be emailed.", "error")
    return reason


def take_down(action, row, done, listing):
    """Unpublish or delete with the reason the owner is emailed; without a reason nothing is done."""
    reason = given_reason()
    if reason:
        action(row, reason)
        flash(done, "success")
    return back(listing)


@bp.route("/images/<int:image_id>/unpublish", methods=["POST"])
def image_unpublish(image_id):
    return take_down(unpublish_image, row_or_404(Image, image_id),
                     f"Map {image_id} unpublished; its owner was emailed.", "admin.images")


@bp.route("/images/<int:image_id>/republish", methods=["POST"])
def image_republish(image_id):
    republish(row_or_404(Image, image_id))
    flash(f"Map {image_id} published again.", "success")
    return back("admin.images")


@bp.route("/images/<int:image_id>/delete", methods=["POST"])
def image_delete(image_id):
    return take_down(delete_image_for, row_or_404(Image, image_id),
                     f"Map {image_id} deleted; its owner was emailed.", "admin.images")


# collections ---------------------------------------------------------------------------------


@bp.route("/collections")
def collections():
    words = search_words()
    query = sa.select(Collection).options(joinedload(Collection.owner)).order_by(Collection.id.desc())
    if request.args.get("status") == "unpublished":
        query = query.where(Collection.unpublished_reason.isnot(None))
    if words:
        query = query.where(matches_any([Collection.name, Collection.doi], words))
    return render_template("admin/collections.html", page=paged(query), words=words)


@bp.route("/collections/<int:collection_id>/unpublish", methods=["POST"])
def collection_unpublish(collection_id):
    return take_down(unpublish_collection, row_or_404(Collection, collection_id),
                     f"Collection {collection_id} unpublished; its owner was emailed.", "admin.collections")


@bp.route("/collections/<int:collection_id>/republish", methods=["POST"])
def collection_republish(collection_id):
    republish(row_or_404(Collection, collection_id))
    flash(f"Collection {collection_id} published again.", "success")
    return back("admin.collections")


@bp.route("/collections/<int:collection_id>/delete", methods=["POST"])
def collection_delete(collection_id):
    return take_down(delete_collection_for, row_or_404(Collection, collection_id),
                     f"Collection {collection_id} deleted; its owner was emailed.", "admin.collections")


# uploads and reports -------------------------------------------------------------------------


@bp.route("/uploads")
def uploads():
    query = (
        sa.select(Upload)
        .where(Upload.image_id.is_(None))
        .options(joinedload(Upload.user), joinedload(Upload.collection))
        .order_by(Upload.created_at.desc())
    )
    return render_template("admin/uploads.html", page=paged(query))


@bp.route("/reports")
def reports():
    resolved = request.args.get("state") == "resolved"
    query = sa.select(Report).options(
        joinedload(Report.reporter), joinedload(Report.image), joinedload(Report.collection)
    )
    if resolved:
        query = query.where(Report.resolved_at.isnot(None)).order_by(Report.resolved_at.desc())
    else:
        query = query.where(Report.resolved_at.is_(None)).order_by(Report.created_at)
    return render_template("admin/reports.html", page=paged(query), resolved=resolved, reasons=Report.REASONS)


@bp.route("/reports/<int:report_id>/resolve", methods=["POST"])
def report_resolve(report_id):
    report = row_or_404(Report, report_id)
    report.resolved_at = utcnow()
    report.resolved_by_id = current_user.id
    report.resolution = (request.form.get("resolution") or "").strip()[:2000]
    db.session.commit()
    flash(f"Report {report.id} resolved.", "success")
    return back("admin.reports")
