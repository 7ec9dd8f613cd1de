"""What a visitor asked a public list for (search words, filters, sort), read from the query string.

The list pages of several blueprints share it, so it lives here rather than in one of them.
Each ``*Filters`` turns the query string into SQL conditions and back into the query string
that the pager and the form repeat, so a filter survives a page change.
"""

import functools
from dataclasses import dataclass, fields

import sqlalchemy as sa
from flask import request

from .extensions import db
from .models import Collection, Image
from .numbers import ascii_integer
from .regions import clean_region, in_region
from .search import find, held_by, matching
from .vocab import ANALYSIS_LEVELS, MAP_TYPES, MODALITIES

SORTS = {"new": "Newest first", "old": "Oldest first", "name": "Name (A–Z)"}
YES_NO = {"yes": True, "no": False}
#: Past any real list, and small enough that page × page size stays inside the database's integers.
MAX_PAGE = 10**6
#: How many of the newest public collections a search's count looks through for ones that hold every term
#: (``ImageFilters.surely_found``): a bound on what that shortcut costs when few collections do (~1 ms).
SURE_COLLECTIONS = 500


def page_number():
    """The 1-based page asked for; anything unreadable is the first page, anything huge the (empty) last."""
    number = ascii_integer(request.args.get("page", "1"), max_digits=100)
    return min(max(number or 1, 1), MAX_PAGE)


def like_pattern(words):
    """A LIKE pattern matching the words anywhere, with the user's own % and _ taken literally."""
    escaped = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def matches_any(columns, words):
    """A condition true when any column contains the words (case-insensitive)."""
    pattern = like_pattern(words)
    return sa.or_(*(column.ilike(pattern, escape="\\") for column in columns))


def choice(name, allowed, default=""):
    """A query-string value if it is one of the allowed ones, else the default (unknown values are ignored)."""
    value = (request.args.get(name) or "").strip()
    return value if value in allowed else default


def ordering(sort, model):
    """ORDER BY for a sort name; the primary key breaks ties so pages never overlap."""
    if sort == "name":
        return (model.name.asc(), model.id.asc())
    if sort == "old":
        return (model.id.asc(),)
    return (model.id.desc(),)


def choices(filters):
    """The filters' fields and values (text only: no deep copy, which ``asdict`` makes at a cost on every list page)."""
    return {field.name: getattr(filters, field.name) for field in fields(filters)}


def non_default_args(filters):
    """The choices that differ from the defaults, as query-string arguments."""
    return {key: value for key, value in choices(filters).items() if value and not (key == "sort" and value == "new")}


@dataclass(frozen=True)
class CollectionFilters:
    q: str = ""
    sort: str = "new"

    @classmethod
    def from_request(cls):
        return cls(q=(request.args.get("q") or "").strip()[:200], sort=choice("sort", SORTS, "new"))

    def narrow(self, query):
        """The search's conditions, without an order (keyset pages choose theirs)."""
        if self.q:
            query = query.where(matching(self.q, [Collection.__table__]))
        return query

    def url_args(self):
        """The non-default choices, as query-string arguments for links to other pages."""
        return non_default_args(self)


@dataclass(frozen=True)
class ImageFilters:
    """Search and filters of the public image list; the search also looks at the collection's fields."""

    q: str = ""
    map_type: str = ""
    modality: str = ""
    analysis_level: str = ""
    thresholded: str = ""
    not_mni: str = ""
    region: str = ""
    sort: str = "new"

    @classmethod
    def from_request(cls):
        return cls(
            q=(request.args.get("q") or "").strip()[:200],
            region=clean_region(request.args.get("region")),
            map_type=choice("map_type", MAP_TYPES),
            modality=choice("modality", MODALITIES),
            analysis_level=choice("analysis_level", ANALYSIS_LEVELS),
            thresholded=choice("thresholded", YES_NO),
            not_mni=choice("not_mni", YES_NO),
            sort=choice("sort", SORTS, "new"),
        )

    @functools.cached_property
    def search(self):
        """The search box's ``Search`` on the maps and their collections (its terms probed once per request)."""
        return find(self.q, [Image.__table__, Collection.__table__])

    def narrow(self, query):
        """Add the conditions to a query that already joins Image to Collection (no order: see ``keyset``)."""
        if self.q:
            query = query.where(self.search.condition)
        return self.narrow_maps(query)

    def narrow_maps(self, query):
        """Add the conditions on the map's own fields (all but the search) to a query of Image."""
        for column, value in (
            (Image.map_type, self.map_type),
            (Image.modality, self.modality),
            (Image.analysis_level, self.analysis_level),
        ):
            if value:
                query = query.where(column == value)
        if self.thresholded:
            query = query.where(Image.is_thresholded.is_(YES_NO[self.thresholded]))
        if self.not_mni:
            query = query.where(Image.not_mni.is_(YES_NO[self.not_mni]))
        if self.region:
            query = query.where(in_region(self.region))
        return query

    def surely_found(self):
        """Some of the ready public maps the search finds, cheap to count (``keyset_page``'s ``sure``), or None.

        A collection that holds every term in its own fields brings all its listed maps: they are counted from
        an index of the listed maps by collection (``ix_image_listed_collection_id``, no row read), looking
        through the newest SURE_COLLECTIONS public collections only. Counting the search's own matches walks
        every map in turn and tests its text and its collection's (~8 ms for 1,001 of a common word at a
        million maps). PostgreSQL only, and only when every term is common (a rare term's count is cheap)."""
        if not self.q or not self.search.walked or db.engine.dialect.name != "postgresql":
            return None
        holds = held_by(self.search, 1)
        newest = (sa.select(Collection.id, holds.label("holds"))
                  .where(Collection.private.is_(False), Collection.unpublished_reason.is_(None))
                  .order_by(Collection.id.desc()).limit(SURE_COLLECTIONS).subquery("newest"))
        # OFFSET 0 keeps the planner from flattening the lateral query: one index range per collection.
        maps = self.narrow_maps(sa.select(Image.id).where(
            Image.collection_id == newest.c.id, Image.status == Image.READY, Image.unpublished_reason.is_(None)))
        maps = maps.offset(0).lateral("maps")
        return sa.select(maps.c.id).select_from(newest.join(maps, sa.true())).where(newest.c.holds)

    @property
    def narrowed(self):
        """Whether any filter beyond the sort is set (the page then offers to clear them)."""
        return any(value for key, value in choices(self).items() if key != "sort")

    def url_args(self):
        """The non-default choices, as query-string arguments for links to other pages."""
        return non_default_args(self)
