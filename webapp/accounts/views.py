"""The profile page and API tokens (Flask-Security-Too serves register, confirm, login, reset, change)."""

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_security import auth_required, current_user

from ..access import row_or_none
from ..extensions import db
from ..limits import pending_limit_for, quota_bytes_for
from ..models import ApiToken, Collection, utcnow
from ..text import one_line
from . import bp
from .forms import NewTokenForm, PublicNameForm, RevokeForm

#: The tokens page can show a new secret: no browser, proxy or page cache may keep a copy.
NEVER_STORED = {"Cache-Control": "no-store, private", "Pragma": "no-cache"}


def active_tokens(user):
    return db.session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)
    ).all()


@bp.route("/profile", methods=["GET", "POST"])
@auth_required("session")
def profile():
    form = PublicNameForm(obj=current_user)
    if form.validate_on_submit():
        current_user.public_name = form.public_name.data
        db.session.commit()
        flash(f"Others now see you as “{current_user.display_name}”.", "success")
        return redirect(url_for("accounts.profile"))
    collection_count = db.session.scalar(
        sa.select(sa.func.count(Collection.id)).where(Collection.owner_id == current_user.id)
    )
    return render_template(
        "accounts/profile.html",
        form=form,
        collection_count=collection_count,
        used=current_user.bytes_stored(),
        quota=quota_bytes_for(current_user),
        pending=current_user.pending_image_count(),
        pending_limit=pending_limit_for(current_user),
    ), (400 if form.errors else 200)


@bp.route("/tokens", methods=["GET", "POST"])
@auth_required("session")
def tokens():
    form = NewTokenForm()
    new_secret = None
    if form.validate_on_submit():
        _, new_secret = ApiToken.issue(current_user, one_line(form.name.data) or "API token")
        db.session.commit()
        form = NewTokenForm(formdata=None)
    page = render_template(
        "accounts/tokens.html",
        form=form,
        revoke_form=RevokeForm(),
        tokens=active_tokens(current_user),
        new_secret=new_secret,
    )
    return page, (400 if form.errors else 200), NEVER_STORED


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@auth_required("session")
def revoke_token(token_id):
    token = row_or_none(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:
        abort(404)
    if RevokeForm().validate_on_submit():
        token.revoked_at = utcnow()
        db.session.commit()
        flash(f"Token “{token.name}” revoked.", "success")
    return redirect(url_for("accounts.tokens"))
