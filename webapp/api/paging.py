"""NeuroVault's limit/offset paging: ``{"count", "next", "previous", "results"}`` with absolute links.

A page costs one COUNT and one query of ``limit`` rows ordered by an indexed
column; the caller passes loader options so that serialising a row needs no
further query. The answer is joined from each item's encoded JSON (``encoding.list_answer``).
"""

from urllib.parse import urlencode

import sqlalchemy as sa
from flask import current_app, request, url_for

from ..extensions import db
from ..keyset import deferred_page
from ..numbers import ascii_integer
from .checkpoints import from_checkpoint
from .encoding import encoded, list_answer
from .fragments import page_fragments, page_keys

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


def page_of(query, serialize, count=None, model=None, checkpoints=None, list_scope=None):
    """One page of the query's rows, serialised, with the total and the links to the neighbouring pages.

    With ``model`` (``Image`` or ``Collection``: the public lists and a collection's images), the offset is
    walked over the ids alone (``keyset.deferred_page``), and each item's encoded JSON is kept between
    requests while what it shows is unchanged (``fragments.page_fragments``; ``list_scope`` names a public
    list's page-cache scope, which lets a page of unchanged items read two generations). With ``checkpoints=(name,
    scope)`` (a public list of ``model`` in id order, the same for every caller), a deep offset starts from
    the nearest kept checkpoint (``checkpoints.from_checkpoint``): it walks fewer than ``checkpoints.STEP``
    rows whatever its depth.
    """
    limit, offset = page_window()
    total = count_of(query) if count is None else count
    rows_query, rows_offset = query, offset
    if checkpoints is not None:
        rows_query, rows_offset = from_checkpoint(query, model, offset, *checkpoints)
    if model is not None:
        pairs = page_pairs(rows_query, model, limit, rows_offset)
        fragments = page_fragments(query, model, pairs, serialize, list_scope)
    else:
        rows = db.session.scalars(rows_query.limit(limit).offset(rows_offset)).unique()
        fragments = [encoded(serialize(row)) for row in rows]
    return list_answer(
        total,
        page_link(limit, offset + limit) if offset + limit < total else None,
        page_link(limit, max(offset - limit, 0)) if offset > 0 else None,
        fragments,
    )


def page_pairs(query, model, limit, offset):
    """(id, collection id) of the page's items in the list's order; a deep offset walked over the ids alone."""
    pairs = page_keys(query, model)
    if offset > 0:
        return deferred_page(db.session, pairs, model, limit, offset)
    return db.session.execute(pairs.limit(limit)).all()
