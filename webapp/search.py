"""What the lists' search box finds: the same query syntax on PostgreSQL and SQLite (decision 0025).

A query is words and "quoted phrases". Text is runs of letters and digits (accents and case
ignored), so a token holding punctuation, such as a DOI ("10.1234/wm.1") or "2-back", is the phrase
of its parts. Every term must be found somewhere in the row (for an image: its own name and
description, or its collection's name, description, authors and DOI):

- a phrase: its words in a row;
- a word: a word starting with it, or, from three characters on, anywhere inside a name
  (image or collection name, authors) – "lovel" finds Lovelace, "ovela" too.

A query with no letter or digit finds nothing. The indexes are in ``webapp/searchindex.py``:
a generated ``tsvector`` with GIN plus ``pg_trgm`` on PostgreSQL, FTS5 tables on SQLite.
"""

import re
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from .extensions import db
from .searchindex import CONFIG, PREFIX, SEARCHED

TOKENS = re.compile(r'"([^"]*)"?|(\S+)')
WORD = re.compile(r"[^\W_]+")
MAX_TERMS = 8
MAX_WORD = 64
#: A word this long or longer is also looked for inside names (trigram indexes need three characters).
INSIDE_FROM = 3


@dataclass(frozen=True)
class Term:
    words: tuple
    #: A lone word, matched as the start of a word (and inside names); else a phrase matched as is.
    loose: bool


def terms(query):
    """The query's terms, at most MAX_TERMS; tokens without a letter or digit are dropped."""
    found = []
    for phrase, token in TOKENS.findall(query or ""):
        words = tuple(word[:MAX_WORD] for word in WORD.findall((phrase or token).lower()))
        if words:
            found.append(Term(words, loose=not phrase and len(words) == 1))
    return found[:MAX_TERMS]


#: Built once: SQL elements are immutable, and every search uses them (a search's SQL is built on each request).
REGCONFIG = sa.literal_column(f"'{CONFIG}'::regconfig")
VECTORS = {name: sa.literal_column(f"{name}.search_vector") for name in SEARCHED}


def tsquery_text(term):
    """The term as a tsquery (its words are letters and digits only: safe in one)."""
    return f"{term.words[0]}:*" if term.loose else " <-> ".join(term.words)


def postgresql_match(table, term):
    """The term against a table's ``search_vector``."""
    return VECTORS[table.name].op("@@")(sa.func.to_tsquery(REGCONFIG, tsquery_text(term)))


def sqlite_match(table, term, suffix="words"):
    """The ids of a table's rows whose FTS5 table matches the term."""
    fts = sa.table(f"{PREFIX}{table.name}_{suffix}", sa.column("rowid"))
    words = " ".join(term.words)
    text = f'"{words}"*' if term.loose and suffix == "words" else f'"{words}"'
    return table.c.id.in_(sa.select(fts.c.rowid).where(sa.literal_column(fts.name).op("MATCH")(text)))


def looked_for_inside(term):
    """Whether the term is also looked for inside names (a lone word of INSIDE_FROM characters or more)."""
    return term.loose and len(term.words[0]) >= INSIDE_FROM


def conditions_in_table(table, term):
    """The ways a row of ``table`` (Image's or Collection's) can hold the term, each answered by one index."""
    inside = looked_for_inside(term)
    if db.engine.dialect.name == "postgresql":
        found = [postgresql_match(table, term)]
        if inside:
            found += [table.c[name].ilike(f"%{term.words[0]}%") for name in SEARCHED[table.name][1]]
        return found
    found = [sqlite_match(table, term)]
    if inside:
        found.append(sqlite_match(table, term, "names"))
    return found


def term_in_table(table, term, index=0):
    """Whether a row of ``table`` holds the term: ``conditions_in_table`` ORed.

    On PostgreSQL, one SQL fragment with bound values, the same SQL: built from SQLAlchemy's expressions it cost
    ~0.1 ms of CPU per table and term on every search (decision 0041). ``index``, the term's place in the query,
    keeps its parameters' names apart from the other terms' in one statement."""
    if db.engine.dialect.name != "postgresql":
        return sa.or_(*conditions_in_table(table, term))
    name = f"search_{table.name}_{index}"
    ways = [f"{table.name}.search_vector @@ to_tsquery('{CONFIG}'::regconfig, :{name}_q)"]
    values = {f"{name}_q": tsquery_text(term)}
    if looked_for_inside(term):
        ways += [f"{table.name}.{column} ILIKE :{name}_p" for column in SEARCHED[table.name][1]]
        values[f"{name}_p"] = f"%{term.words[0]}%"
    return sa.type_coerce(sa.text(f"({' OR '.join(ways)})").bindparams(**values), sa.Boolean)


def ids_holding(term, listed, table):
    """SELECTs of the ids of ``listed`` rows holding the term in ``table`` (``listed`` itself: one per index, or a
    table it references: one). Not correlated: their ``image``/``collection`` are their own, whatever the outer
    query joins."""
    if table is listed:
        return [sa.select(listed.c.id).where(condition).correlate(None)
                for condition in conditions_in_table(table, term)]
    link = next(fk.parent for fk in listed.foreign_keys if fk.column.table is table)
    linked = sa.select(table.c.id).where(term_in_table(table, term)).correlate(None)
    return [sa.select(listed.c.id).where(link.in_(linked)).correlate(None)]


#: A term found in fewer rows than this is searched as that set of ids; a term in more is checked row by row
#: along the list's order (a common word fills a page within its first rows).
FEW = 2_000


#: How long a process trusts what it read of the planner's statistics (``common_words``).
STATISTICS_SECONDS = 600
_statistics = {}


def common_words(table):
    """{lexeme: share of rows} of the table's most common words (``ANALYZE``'s ``most_common_elems``) and its
    row count, read at most every STATISTICS_SECONDS per process."""
    now = time.monotonic()
    key = (db.engine.url.render_as_string(), table.name)
    known = _statistics.get(key)
    if known is None or now - known[0] > STATISTICS_SECONDS:
        row = db.session.execute(sa.text(
            "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples FROM pg_class c "
            "LEFT JOIN pg_stats s ON s.tablename = c.relname AND s.attname = 'search_vector' "
            "AND s.schemaname = current_schema() WHERE c.oid = to_regclass(:name)"), {"name": table.name}).first()
        words, shares, rows = row if row else (None, None, 0)
        known = _statistics[key] = (now, dict(zip(words or (), shares or (), strict=False)), rows or 0)
    return known[1], known[2]


def surely_common(term, table):
    """Whether the statistics say FEW rows or more of the table hold the word (the probe would read the whole
    posting list of a word every map holds: ~80 ms at 500,000 maps). Never for a phrase: common words can make a
    rare phrase, and a rare term must not be walked."""
    if not term.loose:
        return False
    words, rows = common_words(table)
    share = sum(value for word, value in words.items() if word.startswith(term.words[0]))
    return share * rows >= FEW or (len(term.words[0]) >= INSIDE_FROM and any(
        estimated_rows(table, name, f"%{term.words[0]}%") >= SURELY * FEW for name in SEARCHED[table.name][1]))


#: Letters inside names are common when the planner expects this many times FEW rows (its estimate of an ``ILIKE``
#: comes from the column's sampled values: good for common letters, only an upper bound's guess for rare ones).
SURELY = 10


#: How many estimates a process keeps (one per searched word and name column); past it they are all dropped.
MAX_ESTIMATES = 4096
_estimates = {}


def estimated_rows(table, column, pattern):
    """The planner's estimate of the table's rows whose column is ``ILIKE`` the pattern (``EXPLAIN``, 0.3–1.6 ms
    and a round trip; the names are SEARCHED's, the pattern a bound value). Kept STATISTICS_SECONDS per process,
    like ``common_words``: the estimate comes from the statistics ``ANALYZE`` stores, not from the rows."""
    now = time.monotonic()
    key = (db.engine.url.render_as_string(), table.name, column, pattern)
    known = _estimates.get(key)
    if known is None or now - known[0] > STATISTICS_SECONDS:
        plan = db.session.execute(sa.text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {table.name} WHERE {column} ILIKE :p"),
                                  {"p": pattern}).scalar()
        if len(_estimates) >= MAX_ESTIMATES:
            _estimates.clear()
        known = _estimates[key] = (now, plan[0]["Plan"]["Plan Rows"])
    return known[1]


#: Terms a probe found in FEW rows or more: {(database, table, term): when}, trusted STATISTICS_SECONDS.
_found_common = {}


def few_ids(term, tables):
    """The ids of the listed rows holding the term when they are fewer than FEW, else None.

    One query, each way of holding it by its own index, the listed table's first (``UNION ALL``: it stops
    at FEW rows without reading the other ways). A term the probe found common is not probed again for
    STATISTICS_SECONDS in this process (letters inside 2,500 of 20,000 names: ~20 ms each time, as an estimate
    cannot say "common" for a table that small). Only that verdict is kept, never the ids: were the term to
    become rare meanwhile, the walk would still find exactly its rows, only more slowly."""
    listed = tables[0]
    key = (db.engine.url.render_as_string(), listed.name, term)
    known = _found_common.get(key)
    if known is not None and time.monotonic() - known <= STATISTICS_SECONDS or surely_common(term, listed):
        return None
    sides = sa.union_all(*(side for table in tables for side in ids_holding(term, listed, table))).subquery()
    ids = set(db.session.scalars(sa.select(sides.c.id).limit(FEW)))
    if len(ids) < FEW:
        return ids
    if len(_found_common) >= MAX_ESTIMATES:
        _found_common.clear()
    _found_common[key] = time.monotonic()
    return None


@dataclass(frozen=True)
class Search:
    """A search's condition on the listed table, and how it is answered."""

    condition: object
    #: For each term, whether a row of each table holds it (``term_in_table``, in the order of the tables).
    parts: tuple = ()
    #: Every term is tested row by row along the list's order (each is in FEW rows or more): the rows that hold
    #: them are many, and a count of them is worth a shortcut (``held_by``).
    walked: bool = False


def matching(query, tables):
    """A condition true for rows of ``tables[0]`` where every term of the query is in one of the tables' rows
    (the others are tables ``tables[0]`` references, joined by the caller); ``find(…).condition``."""
    return find(query, tables).condition


def find(query, tables):
    """The query's ``Search`` on ``tables`` (see ``matching``).

    PostgreSQL: the terms' ids are probed first (``few_ids``). When one term is in fewer than FEW rows, the
    condition is ``id = ANY(those ids)`` (and the other terms on them): the planner joins them by primary key,
    sorts and pages, in milliseconds. The OR across the join alone made it walk the id index row by row until it
    had a page: seconds for a word only one map holds at a million maps, as its GIN estimate of a prefix is fixed
    whatever the word. A common word keeps that walk, which fills a page within its first rows.
    SQLite: each FTS5 table's rowids, ORed (FTS5 answers an ``IN`` once per query)."""
    found = terms(query)
    if not found:
        return Search(sa.false())
    parts = tuple(tuple(term_in_table(table, term, index) for table in tables) for index, term in enumerate(found))
    if db.engine.dialect.name == "postgresql":
        for index, term in enumerate(found):
            ids = few_ids(term, tables)
            if ids is not None:
                if not ids:
                    return Search(sa.false(), parts)
                rest = parts[:index] + parts[index + 1:]
                return Search(sa.and_(tables[0].c.id == sa.any_(sa.literal(sorted(ids), ARRAY(sa.Integer))),
                                      *(sa.or_(*held) for held in rest)), parts)
        return Search(sa.and_(*(sa.or_(*held) for held in parts)), parts, walked=True)
    return Search(sa.and_(*(sa.or_(*held) for held in parts)), parts)


def held_by(search, index):
    """Whether a row of ``tables[index]`` of the search (a table the listed one references) holds every term by
    itself: each listed row that references it is then found, whatever its own text says."""
    return sa.and_(*(held[index] for held in search.parts))
