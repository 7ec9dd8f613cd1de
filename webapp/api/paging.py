"""NeuroVault's limit/offset paging: ``{"count", "next", "previous", "results"}`` with absolute links.

A page costs one COUNT and one query of ``limit`` rows ordered by an indexed
column; the caller passes loader options so that serialising a row needs no
further query.
"""

from urllib.parse import urlencode

import sqlalchemy as sa
from flask import current_app, request, url_for

from ..extensions import db
from ..numbers import ascii_integer
from .errors import field_error

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 2**31 - 1


def whole_number(name, default, minimum, maximum):
    """A query parameter as an integer in range, or a 400 naming the parameter."""
    raw = request.args.get(name, "")
    if raw.strip() == "":
        return default
    value = ascii_integer(raw, max_digits=100)
    if value is None:
        raise field_error(name, "A valid integer is required.")
    if value < minimum:
        raise field_error(name, f"Ensure this value is greater than or equal to {minimum}.")
    if value > maximum:
        raise field_error(name, f"Ensure this value is less than or equal to {maximum}.")
    return value


def page_window():
    """(limit, offset) from the query string; a limit above the maximum is lowered to it, as on NeuroVault."""
    limit = whole_number("limit", DEFAULT_LIMIT, 1, 2**63)
    offset = whole_number("offset", 0, 0, MAX_OFFSET)
    return min(limit, MAX_LIMIT), offset


def page_link(limit, offset):
    """This list's absolute URL (on BASE_URL) with the other query parameters kept and limit/offset set."""
    args = [(key, value) for key, value in request.args.items(multi=True) if key not in ("limit", "offset")]
    args += [("limit", limit), ("offset", offset)]
    path = url_for(request.endpoint, **(request.view_args or {}))
    return f"{current_app.config['BASE_URL']}{path}?{urlencode(args)}"


def count_of(query):
    return db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))


def page_of(query, serialize, count=None):
    """One page of the query's rows, serialised, with the total and the links to the neighbouring pages."""
    limit, offset = page_window()
    total = count_of(query) if count is None else count
    rows = db.session.scalars(query.limit(limit).offset(offset)).unique().all()
    return {
        "count": total,
        "next": page_link(limit, offset + limit) if offset + limit < total else None,
        "previous": page_link(limit, max(offset - limit, 0)) if offset > 0 else None,
        "results": [serialize(row) for row in rows],
    }
