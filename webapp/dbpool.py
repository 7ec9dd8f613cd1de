"""Pooled PostgreSQL connections checked before use without a round trip to the server (decision 0024).

``pool_pre_ping`` sends ``SELECT 1`` on every checkout, i.e. on every request: on a busy
machine that round trip (a wake-up of the server process and of ours) was a quarter of an empty
route's time. A connection that the server closed (a restart, ``pg_terminate_backend``, an idle
timeout) has data waiting on its socket: the server's goodbye, or the end of the stream. An
idle pooled connection is sent nothing else (the site does not ``LISTEN``). So a checkout looks at
the socket, which costs no round trip, and hands out a fresh connection when something is waiting.
A connection idle for longer than ``PING_AFTER_IDLE_SECONDS`` is still pinged as before: a
network path (a NAT, a firewall) can drop it without a word.

Other databases (the embedded SQLite) keep ``pool_pre_ping``.
"""

import select
import time
import weakref

from sqlalchemy import event, exc

#: A connection idle for longer than this is pinged (one round trip) before it is handed out again.
PING_AFTER_IDLE_SECONDS = 30.0
IDLE_SINCE = "neurodrop_idle_since"


def checks_socket(url):
    """Whether connections to this database URL are checked by their socket (psycopg 3 on PostgreSQL)."""
    return str(url).startswith("postgresql+psycopg://")


def engine_options(url, options):
    """The engine options for this URL: no ``pool_pre_ping`` where the socket check replaces it."""
    if not checks_socket(url):
        return options
    return {**options, "pool_pre_ping": False}


def server_has_spoken(dbapi_connection):
    """Whether anything waits to be read on an idle connection's socket (its end, or an error sent by the server)."""
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def is_usable(dialect, dbapi_connection, idle_seconds):
    """Whether a pooled connection may be handed out: open, nothing from the server, pinged if idle for long."""
    if dbapi_connection.closed or server_has_spoken(dbapi_connection):
        return False
    if idle_seconds <= PING_AFTER_IDLE_SECONDS:
        return True
    try:
        return bool(dialect.do_ping(dbapi_connection))
    except Exception:  # any failure of the ping means: do not use this connection
        return False


#: The engines already watched (the tests build many apps; one listener per engine).
WATCHED = weakref.WeakSet()


def watch_pool(engine):
    """Check each connection when it leaves the pool; a dead one is replaced (SQLAlchemy retries the checkout)."""
    if not checks_socket(engine.url) or engine in WATCHED:
        return
    WATCHED.add(engine)

    @event.listens_for(engine, "checkin")
    def note_idle(dbapi_connection, record):
        record.info[IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def check_on_checkout(dbapi_connection, record, proxy):
        idle_since = record.info.pop(IDLE_SINCE, None)
        idle = 0.0 if idle_since is None else time.monotonic() - idle_since
        if not is_usable(engine.dialect, dbapi_connection, idle):
            raise exc.DisconnectionError("the pooled connection was closed by the server")
