"""The full-text indexes the public lists search (decision 0025): made by SQL the models cannot describe.

PostgreSQL: a generated ``search_vector`` (``tsvector``) on ``image`` and ``collection`` with a GIN
index, in a text search configuration that drops accents (``unaccent``), plus ``pg_trgm`` GIN
indexes on the names for words found inside a name. SQLite: FTS5 tables over the same columns, kept
in step with their table by triggers (``unicode61`` without diacritics for words, ``trigram`` for
names). Both see text as runs of letters and digits: everything else separates words, so
"10.1234/wm.1" and "heat_pain" read the same way on either database.

The migration and ``create_all`` (the tests, a fresh embedded site) run these statements, and
Alembic's comparison skips what they make (``not_search_index``), since no model declares it.
"""

import sqlalchemy as sa

CONFIG = "neurodrop_search"
#: Searchable columns: (table, word columns, name columns searched inside words).
SEARCHED = {
    "image": (("name", "description"), ("name",)),
    "collection": (("name", "description", "authors", "doi"), ("name", "authors")),
}
PREFIX = "search_"


def words_of(columns):
    """The PostgreSQL expression of a row's text: the columns, with every run of non-alphanumerics one space."""
    text = " || ' ' || ".join(f"coalesce({column}, '')" for column in columns)
    return f"regexp_replace({text}, '[^[:alnum:]]+', ' ', 'g')"


def postgresql_statements():
    statements = [
        "CREATE EXTENSION IF NOT EXISTS unaccent",
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = '{CONFIG}') THEN "
        f"CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = simple); "
        f"ALTER TEXT SEARCH CONFIGURATION {CONFIG} ALTER MAPPING FOR asciiword, word, numword, hword, "
        "hword_part, hword_asciipart, asciihword, numhword WITH unaccent, simple; END IF; END $$",
    ]
    for table, (words, names) in SEARCHED.items():
        statements += [
            f"ALTER TABLE {table} ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
            f"(to_tsvector('{CONFIG}'::regconfig, {words_of(words)})) STORED",
            f"CREATE INDEX ix_{PREFIX}{table}_vector ON {table} USING gin (search_vector)",
            *(f"CREATE INDEX ix_{PREFIX}{table}_{name}_trgm ON {table} USING gin ({name} gin_trgm_ops)"
              for name in names),
        ]
    return statements


def fts_table(table, columns, tokenizer, suffix):
    """An external-content FTS5 table over ``columns`` of ``table`` and the three triggers that keep it in step."""
    name = f"{PREFIX}{table}_{suffix}"
    listed = ", ".join(columns)
    new = ", ".join(f"new.{column}" for column in columns)
    old = ", ".join(f"old.{column}" for column in columns)
    return [
        f"DROP TABLE IF EXISTS {name}",  # create_all after drop_all: the table went, its index stayed
        f"CREATE VIRTUAL TABLE {name} USING fts5({listed}, content='{table}', content_rowid='id', "
        f"tokenize='{tokenizer}')",
        f"CREATE TRIGGER {name}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {name}(rowid, {listed}) VALUES (new.id, {new}); END",
        f"CREATE TRIGGER {name}_ad AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {name}({name}, rowid, {listed}) VALUES ('delete', old.id, {old}); END",
        f"CREATE TRIGGER {name}_au AFTER UPDATE OF {listed} ON {table} BEGIN "
        f"INSERT INTO {name}({name}, rowid, {listed}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {name}(rowid, {listed}) VALUES (new.id, {new}); END",
        f"INSERT INTO {name}({name}) VALUES ('rebuild')",
    ]


def sqlite_statements():
    statements = []
    for table, (words, names) in SEARCHED.items():
        statements += fts_table(table, words, "unicode61 remove_diacritics 2", "words")
        statements += fts_table(table, names, "trigram", "names")
    return statements


def search_index_statements(dialect):
    if dialect == "postgresql":
        return postgresql_statements()
    if dialect == "sqlite":
        return sqlite_statements()
    return []


def create_search_index(target, connection, **kw):
    """``after_create`` of the metadata: ``create_all`` makes the indexes the migration makes."""
    for statement in search_index_statements(connection.dialect.name):
        connection.execute(sa.text(statement))


def not_search_index(item, name, type_, reflected, compare_to):
    """Alembic's ``include_object``: leave out the search objects, which only SQL describes."""
    name = name or ""
    if type_ == "column":
        return name != "search_vector"
    return not (name.startswith(PREFIX) or name.startswith(f"ix_{PREFIX}"))


def init_search_index(metadata):
    if not sa.event.contains(metadata, "after_create", create_search_index):
        sa.event.listen(metadata, "after_create", create_search_index)
