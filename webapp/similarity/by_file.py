"""Search by file: a NIfTI that is never published, compared with every public map by a worker.

The file goes to storage under a ``searches/`` key only long enough for a worker to read it (the
worker deletes it whether the file is good or not); its vector lives in the worker's memory only;
what is kept is the answer (ids and r of the most similar public maps) for
``SIMILAR_SEARCH_KEEP_MINUTES``, shown only to the user who asked, then the row is deleted too.
The file goes through the same checks as an upload (``workers.nifti.inspect_and_load``) and a bad
one gets the same sentence as a failed upload.
"""

from datetime import timedelta

import sqlalchemy as sa
from flask import abort, current_app

from ..extensions import db, get_storage
from ..ingest import ENVELOPE_BYTES, clean_filename, staged_file
from ..models import SimilaritySearch, utcnow
from ..storage import new_key
from .search import visible_ids

STORAGE_KIND = "searches"


def search_limit(content_length):
    """The most bytes a searched file may have; a 413 before reading when the body says it is larger."""
    limit = current_app.config["SIMILAR_SEARCH_MAX_BYTES"]
    if content_length is not None and content_length > limit + ENVELOPE_BYTES:
        abort(413, f"The file is {content_length:,} bytes; a search takes files up to {limit:,} bytes.")
    return limit


def start_search(user, file_storage):
    """Store the file, record the search, queue the worker; returns the search row."""
    stored = get_storage().commit(staged_file(file_storage), new_key(STORAGE_KIND))
    search = SimilaritySearch(user_id=user.id, storage_key=stored.key,
                              filename=clean_filename(file_storage.filename))
    db.session.add(search)
    db.session.commit()
    queue_search(search.id)
    return db.session.get(SimilaritySearch, search.id)


def queue_search(search_id):
    from webapp.processing.tasks import search_by_file

    try:
        search_by_file.delay(search_id)
    except Exception:
        current_app.logger.exception("could not queue search %s", search_id)
        fail_search(search_id, "The search could not be queued; please try again in a minute.")


def fail_search(search_id, reason):
    search = db.session.get(SimilaritySearch, search_id)
    if search is not None and search.status == SimilaritySearch.PENDING:
        delete_search_file(search)
        search.status, search.error, search.finished_at = SimilaritySearch.FAILED, reason, utcnow()
        db.session.commit()


def delete_search_file(search):
    if search.storage_key:
        get_storage().delete(search.storage_key)
        search.storage_key = None


def own_search_or_404(search_id, user):
    """The user's own search; anyone else's (or an expired one) is a 404."""
    search = db.session.get(SimilaritySearch, search_id) if isinstance(search_id, str) and len(search_id) <= 32 \
        else None
    if search is None or user is None or search.user_id != user.id:
        abort(404)
    return search


def public_matches(search):
    """The answer's maps that are public now, best first, as (image id, r)."""
    matches = [(int(image_id), float(r)) for image_id, r in search.results or []]
    shown = visible_ids([image_id for image_id, _ in matches], None)
    return [(image_id, r) for image_id, r in matches if image_id in shown]


def expire_searches():
    """Delete searches past their keeping time, with any file a worker never got to; how many."""
    deadline = utcnow() - timedelta(minutes=current_app.config["SIMILAR_SEARCH_KEEP_MINUTES"])
    old = db.session.scalars(sa.select(SimilaritySearch).where(SimilaritySearch.created_at < deadline)).all()
    for search in old:
        delete_search_file(search)
        db.session.delete(search)
    db.session.commit()
    return len(old)
