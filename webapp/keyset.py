"""Keyset (seek) pages for the public lists: page 10,000 costs what page 1 costs.

``OFFSET n`` makes the database walk past ``n`` rows, so a deep page of a million-map list
grows with its depth; and when maps arrive between two requests, an offset page repeats the
last rows of the page before. A keyset page starts right after (or before) the row the visitor
last saw: ``?after=<id>`` for "Next", ``?before=<id>`` for "Previous", found through the same
index as the first page. The row's sort key is read from the row itself (a subquery), so the
link carries only its id. ``page`` stays in the link for the "Page N of M" label, and a link
with ``page`` alone (old bookmarks, a typed URL) still works by offset.
"""

from math import ceil

import sqlalchemy as sa
from flask import request

from .numbers import ascii_whole_number

#: The largest id a cursor may name (the database's integer).
MAX_CURSOR = 2**31 - 1


def cursor(name):
    """The id in ``?after=`` / ``?before=``, or None when absent or not a plausible id."""
    value = ascii_whole_number(request.args.get(name, ""), max_digits=10)
    return value if value is not None and 0 < value <= MAX_CURSOR else None


def seek(model, sort, row_id, forward):
    """(condition, ORDER BY) for the rows after (``forward``) or before the row ``row_id`` in this sort."""
    if sort == "name":
        # A row-value comparison, which the (name, id) index answers as one range (an OR of the two would not).
        key, cursor_key = sa.tuple_(model.name, model.id), sa.tuple_(
            sa.select(model.name).where(model.id == row_id).scalar_subquery(), sa.literal(row_id))
        if forward:
            return key > cursor_key, (model.name.asc(), model.id.asc())
        return key < cursor_key, (model.name.desc(), model.id.desc())
    ascending = (sort == "old") == forward
    if ascending:
        return model.id > row_id, (model.id.asc(),)
    return model.id < row_id, (model.id.desc(),)


#: A search or a filter counts its matches up to this many: past it the page says "1,000+" (a COUNT of every
#: match of a common word walks most of the table; 10,000 still cost ~100 ms at a million maps).
COUNT_CAP = 1_000


def capped_count(session, query):
    """How many rows the query gives, counting no further than COUNT_CAP + 1 (more than the cap: capped)."""
    return session.scalar(count_up_to_cap(query))


def count_up_to_cap(query):
    """SELECT the number of the query's rows, up to COUNT_CAP + 1."""
    limited = query.with_only_columns(sa.literal(1)).order_by(None).limit(COUNT_CAP + 1).subquery()
    return sa.select(sa.func.count()).select_from(limited)


class KeysetPage:
    """One page of a list, with what the ``pager`` macro reads (``prev_args`` / ``next_args`` for its links)."""

    def __init__(self, items, page, per_page, total, has_prev, has_next, counted_up_to=None):
        self.items, self.page, self.per_page = items, page, per_page
        self.capped = counted_up_to is not None and total > counted_up_to
        self.total = counted_up_to if self.capped else total
        self.pages = max(ceil(self.total / per_page), page, 1)
        self.has_prev, self.has_next = has_prev, has_next
        self.prev_num, self.next_num = page - 1, page + 1

    @property
    def prev_args(self):
        """Back to the first page plainly (it may have grown), else to the rows before this page's first."""
        return {} if self.page <= 2 else {"before": self.items[0].id, "page": self.page - 1}

    @property
    def next_args(self):
        return {"after": self.items[-1].id, "page": self.page + 1}


class RowReader:
    """Reads a page's rows for ``keyset_page``, and the count of ``sure`` riding along in the same statement."""

    def __init__(self, session, shape, sure):
        self.session, self.shape, self.sure, self.sure_count = session, shape, sure, None

    def __call__(self, statement):
        if self.shape is None:
            return list(self.session.scalars(statement))
        if self.sure is None:
            return [self.shape(row) for row in self.session.execute(statement)]
        counted = count_up_to_cap(self.sure).scalar_subquery().label("sure_count")
        rows = self.session.execute(statement.add_columns(counted)).all()
        self.sure_count = rows[0][-1] if rows else None
        return [self.shape(row[:-1]) for row in rows]

    @property
    def past_cap(self):
        """Whether the rows surely found already pass COUNT_CAP (the page's count is then not needed)."""
        return self.sure_count is not None and self.sure_count > COUNT_CAP


def keyset_page(session, query, model, sort, page, per_page, count, capped=False, shape=None, sure=None):
    """A page of ``query`` (filtered, not yet ordered) by ``?after=`` / ``?before=``, or by ``page`` offset.

    ``count()`` gives the total for the label: a stored number, or with ``capped`` a ``capped_count``, whose
    total past COUNT_CAP is shown as "COUNT_CAP+". With ``shape``, the query selects columns and each row
    becomes ``shape(row)`` (which has an ``id``); without, it selects the model's objects.
    ``sure`` (with ``shape``): a query of some of the same rows, cheap to count (``ImageFilters.surely_found``).
    Its count up to the cap is one more column of the page's statement (no round trip of its own); when it
    passes the cap, so does the query's, and ``count()`` is not called.
    """
    read = RowReader(session, shape, sure)
    after, before = cursor("after"), cursor("before")
    row_id = after or before
    if row_id is None:
        from .listing import ordering

        rows = list(read(query.order_by(*ordering(sort, model)).offset((page - 1) * per_page).limit(per_page + 1)))
        has_prev, has_next = page > 1, len(rows) > per_page
    else:
        condition, order = seek(model, sort, row_id, forward=after is not None)
        rows = list(read(query.where(condition).order_by(*order).limit(per_page + 1)))
        more = len(rows) > per_page
        if after is not None:
            has_prev, has_next = True, more
        else:
            rows = list(reversed(rows[:per_page]))
            has_prev, has_next = more, True
            page = max(page, 2) if more else 1
    items = rows[:per_page]
    total = COUNT_CAP + 1 if read.past_cap else count()
    return KeysetPage(items, page, per_page, total, has_prev and bool(items), has_next and bool(items),
                      COUNT_CAP if capped else None)


def deferred_page(session, query, model, limit, offset):
    """``limit`` rows (of the columns ``query`` selects) from ``offset`` of an ordered query, by a deferred join:
    the offset is walked over the ids alone (an index-only scan of ``ix_image_listed_id`` for the public image
    list), then only the page's rows are read. For the API, whose clients page by offset as on NeuroVault."""
    return session.execute(deferred_page_statement(query, model, limit, offset)).all()


def deferred_page_statement(query, model, limit, offset):
    """``deferred_page``'s statement (``limit`` and ``offset`` may be bound parameters, for a statement built once)."""
    ids = query.with_only_columns(model.id).limit(limit).offset(offset)
    return query.where(model.id.in_(ids))
