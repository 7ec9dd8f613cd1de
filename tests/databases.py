"""Throw-away PostgreSQL databases on a server, for the tests and the benchmarks."""

import uuid

import sqlalchemy as sa


def fresh_postgres_database(server_url, prefix="nd_test"):
    """Create an empty database on the server for this run and return its URL."""
    url = sa.engine.make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(database_url):
    url = sa.engine.make_url(database_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()
