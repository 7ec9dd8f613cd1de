"""NeuroVault's limit/offset paging: ``{"count", "next", "previous", "results"}`` with absolute links.

A page costs one COUNT and one query of ``limit`` rows ordered by an indexed
column; the caller passes loader options so that serialising a row needs no
further query.
"""

from urllib.parse import urlencode

import sqlalchemy as sa
from flask import current_app, request, url_for

from ..extensions import db
from ..keyset import deferred_page
from ..models import Image
from ..numbers import ascii_integer
from .checkpoints import from_checkpoint
from .fragments import page_json

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 2**31 - 1


def lenient_number(name, default, minimum):
    """A query parameter as an integer, or the default when it is missing, not a number or below the minimum.

    As NeuroVault (DRF's LimitOffsetPagination): ``limit=0``, ``offset=-1`` or ``limit=abc`` is no error.
    """
    value = ascii_integer(request.args.get(name, ""), max_digits=100)
    return default if value is None or value < minimum else value


def page_window():
    """(limit, offset) from the query string; a limit above the maximum is lowered to it, as on NeuroVault."""
    limit = lenient_number("limit", DEFAULT_LIMIT, 1)
    offset = min(lenient_number("offset", 0, 0), MAX_OFFSET)
    return min(limit, MAX_LIMIT), offset


def page_link(limit, offset):
    """This list's absolute URL (on BASE_URL) with the other query parameters kept and limit/offset set.

    The first page's link has no ``offset`` (as DRF writes it).
    """
    args = [(key, value) for key, value in request.args.items(multi=True) if key not in ("limit", "offset")]
    args += [("limit", limit)] + ([("offset", offset)] if offset > 0 else [])
    path = url_for(request.endpoint, **(request.view_args or {}))
    return f"{current_app.config['BASE_URL']}{path}?{urlencode(args)}"


def count_of(query):
    return db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))


def page_of(query, serialize, count=None, model=None, checkpoints=None):
    """One page of the query's rows, serialised, with the total and the links to the neighbouring pages.

    With ``model=Image`` (the image lists), the offset is walked over the ids alone (``keyset.deferred_page``),
    and each image's JSON is kept between requests while what it shows is unchanged (``fragments.page_json``).
    With ``checkpoints=(name, scope)`` (a public list of ``model`` in id order, the same for every caller), a
    deep offset starts from the nearest kept checkpoint (``checkpoints.from_checkpoint``): it walks fewer than
    ``checkpoints.STEP`` rows whatever its depth.
    """
    limit, offset = page_window()
    total = count_of(query) if count is None else count
    rows_query, rows_offset = query, offset
    if checkpoints is not None:
        rows_query, rows_offset = from_checkpoint(query, model, offset, *checkpoints)
    if model is Image:
        results = page_json(query, page_ids(rows_query, limit, rows_offset), serialize)
    else:
        rows = db.session.scalars(rows_query.limit(limit).offset(rows_offset)).unique()
        results = [serialize(row) for row in rows]
    return {
        "count": total,
        "next": page_link(limit, offset + limit) if offset + limit < total else None,
        "previous": page_link(limit, max(offset - limit, 0)) if offset > 0 else None,
        "results": results,
    }


def page_ids(query, limit, offset):
    """(id, collection id) of the page's images in the list's order; a deep offset walked over the ids alone."""
    pairs = query.with_only_columns(Image.id, Image.collection_id)
    if offset > 0:
        return deferred_page(db.session, pairs, Image, limit, offset)
    return db.session.execute(pairs.limit(limit)).all()
