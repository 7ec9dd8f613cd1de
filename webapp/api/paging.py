"""NeuroVault's limit/offset paging: ``{"count", "next", "previous", "results"}`` with absolute links.

A page costs one COUNT and one query of ``limit`` rows ordered by an indexed
column; the caller passes loader options so that serialising a row needs no
further query. The answer is joined from each item's encoded JSON (``encoding.list_answer``).
"""

from urllib.parse import urlencode

import sqlalchemy as sa
from flask import current_app, request, url_for

from ..extensions import db
from ..keyset import deferred_page, deferred_page_statement
from ..numbers import ascii_integer
from .checkpoints import checkpoint_start
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
    scope)`` (a public list of ``model`` in id order, the same query object for every request), a deep offset
    starts from the nearest kept checkpoint (``checkpoints.checkpoint_start``): it walks fewer than
    ``checkpoints.STEP`` rows whatever its depth; and the page's statements are built once (``public_page_pairs``).
    """
    limit, offset = page_window()
    total = count_of(query) if count is None else count
    if checkpoints is not None:
        start, rows_offset = checkpoint_start(query, model, offset, *checkpoints)
        pairs = public_page_pairs(query, model, limit, rows_offset, start)
        fragments = page_fragments(query, model, pairs, serialize, list_scope)
    elif model is not None:
        pairs = page_pairs(query, model, limit, offset)
        fragments = page_fragments(query, model, pairs, serialize, list_scope)
    else:
        rows = db.session.scalars(query.limit(limit).offset(offset)).unique()
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


#: The statements of the public lists' pages, built once per process from each list's query (the same object for
#: every request): SQLAlchemy then computes each one's cache key once, not on every request (~0.4 ms of CPU).
#: Statements are immutable, so threads share them. Bounded in case a caller passes a new query each time.
PUBLIC_PAGE_STATEMENTS = {}
MAX_PUBLIC_PAGE_STATEMENTS = 64


def public_page_statement(query, model, deep, from_start):
    """The (id, collection id) statement of a public list's page, with the limit, the offset (``deep``) and the
    first id (``from_start``, a checkpoint) as bound parameters."""
    key = (query, deep, from_start)
    statement = PUBLIC_PAGE_STATEMENTS.get(key)
    if statement is None:
        rows = query.where(model.id >= sa.bindparam("start")) if from_start else query
        pairs = page_keys(rows, model)
        limit = sa.bindparam("page_limit")
        statement = deferred_page_statement(pairs, model, limit, sa.bindparam("page_offset")) if deep else \
            pairs.limit(limit)
        if len(PUBLIC_PAGE_STATEMENTS) >= MAX_PUBLIC_PAGE_STATEMENTS:
            PUBLIC_PAGE_STATEMENTS.clear()
        PUBLIC_PAGE_STATEMENTS[key] = statement
    return statement


def public_page_pairs(query, model, limit, offset, start=None):
    """``page_pairs`` for a public list whose query is built once (the rows from ``start`` on, when given).

    Plain rows of two columns: read on the session's connection, without the ORM's execution (~0.2 ms)."""
    values = {"page_limit": limit} | ({"page_offset": offset} if offset > 0 else {}) | \
        ({"start": start} if start is not None else {})
    statement = public_page_statement(query, model, offset > 0, start is not None)
    return db.session.connection().execute(statement, values).all()
