"""SQLite tuning for the embedded default: the web process and a worker share one file."""

from sqlalchemy import event


def set_pragmas(dbapi_connection, _record):
    """WAL lets readers and one writer work at once; the busy timeout waits instead of failing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def enable_sqlite_pragmas(engine):
    """Apply the pragmas to every new connection when the database is SQLite."""
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", set_pragmas):
        event.listen(engine, "connect", set_pragmas)
