"""Pooled PostgreSQL connections are checked by their socket, not pinged on every checkout (webapp/dbpool.py).

Runs against the PostgreSQL server of ``DATABASE_URL`` (or the benchmarks' local one); skipped without one.
"""

import os

import pytest
import sqlalchemy as sa

from tests.helpers import SERVER_DATABASE_URL, USES_POSTGRES
from webapp import dbpool

SERVER = SERVER_DATABASE_URL if USES_POSTGRES else os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def engine():
    engine = sa.create_engine(SERVER, **dbpool.engine_options(SERVER, {"pool_pre_ping": True}), pool_size=1)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError:
        pytest.skip("no PostgreSQL server")
    dbpool.watch_pool(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine, monkeypatch):
    """How many times the dialect pinged a connection."""
    count = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda connection: count.append(1) or ping(connection))
    return count


def backend_pid(engine):
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()


def test_options_drop_the_ping_on_postgres_only():
    assert dbpool.engine_options("postgresql+psycopg://h/db", {"pool_pre_ping": True}) == {"pool_pre_ping": False}
    assert dbpool.engine_options("sqlite:///x.db", {"pool_pre_ping": True}) == {"pool_pre_ping": True}


def test_a_connection_used_just_now_is_handed_out_without_a_round_trip(engine, pings):
    first = backend_pid(engine)
    assert backend_pid(engine) == first
    assert pings == []


def test_a_connection_the_server_closed_is_replaced_without_an_error(engine, pings):
    killed = backend_pid(engine)
    with sa.create_engine(SERVER, poolclass=sa.pool.NullPool).connect() as other:
        assert other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": killed}).scalar()
        for _ in range(100):  # the backend takes a moment to go
            if not other.execute(sa.text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": killed}).all():
                break
    assert backend_pid(engine) != killed
    assert pings == []


def test_a_connection_idle_for_long_is_pinged(engine, pings, monkeypatch):
    first = backend_pid(engine)
    monkeypatch.setattr(dbpool, "PING_AFTER_IDLE_SECONDS", -1.0)
    assert backend_pid(engine) == first
    assert pings == [1]
