"""What one submission of the upload page becomes, and the page that lists what became of each file sent together.

Maps become images at once; archives and ``.hdr``/``.img`` halves are stored for a worker (one batch per
archive, the halves in the submission's batch). Several files sent together share a batch, so they send one email.
"""

from flask import abort, jsonify, redirect, render_template, request, url_for
from flask_security import url_for_security

from .. import batches
from ..access import row_or_none
from ..callers import session_user, user_from_token_header
from ..ingest import add_image, store_upload
from ..models import Batch
from . import bp


def accept_files(collection, user, files):
    """The images made now, and the batches a worker must unpack or pair (the caller commits, then queues)."""
    group = batches.new_batch(collection, user, "form") if len(files) > 1 else None
    images, sent = [], []
    for part in files:
        if batches.is_archive_name(part.filename):
            archive = batches.new_batch(collection, user, "archive", filename=part.filename)
            batches.store_source(archive, part)
            sent.append(archive)
            if group is not None:
                batches.record_skip(group, part.filename, "an archive: its members are listed on its own page")
        elif batches.needs_worker(part.filename):
            group = group or batches.new_batch(collection, user, "form", filename=part.filename)
            batches.store_source(group, part)
        else:
            image = add_image(collection, user, store_upload(part), part.filename,
                              batch_id=group.id if group is not None else None)
            if group is not None:
                batches.record_image(group, part.filename, image)
            images.append(image)
    if group is not None and group.sources:
        sent.insert(0, group)
    elif group is not None:
        batches.close(group)
    return images, sent


def batch_link(batch):
    return {"id": batch.id, "kind": batch.kind, "filename": batch.filename,
            "url": url_for("uploads.batch", batch_id=batch.id)}


def own_batch_or_404(batch_id, user):
    """The user's batch (or any, for an administrator); 404 for anyone else's."""
    batch = row_or_none(Batch, batch_id)
    if batch is None or not (batch.user_id == user.id or user.is_admin):
        abort(404)
    return batch


@bp.route("/batches/<int:batch_id>")
def batch(batch_id):
    """Every member of an archive (or file of a submission) and what became of it; JSON for the page's script
    and for API clients (``Authorization: Token``), which follow the batch an archive upload answered with."""
    user = user_from_token_header() or session_user()
    if user is None:
        return redirect(url_for_security("login", next=request.path))
    found = own_batch_or_404(batch_id, user)
    if request.accept_mimetypes.best == "application/json":
        response = jsonify(batches.batch_json(found))
        response.headers["Cache-Control"] = "no-store"
        return response
    rows = batches.outcome_rows(found)
    return render_template("uploads/batch.html", batch=found, rows=rows, counts=batches.summary(rows),
                           complete=batches.is_complete(found))
