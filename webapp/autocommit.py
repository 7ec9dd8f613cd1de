"""Read-only views whose statements go to PostgreSQL without ``BEGIN`` and ``ROLLBACK`` (decision 0039).

A read in a transaction costs three round trips, ``BEGIN``, the statement and ``ROLLBACK``, each a wake-up
of the server and of the web thread; for a kept API list the page's ids are the only statement, so two
of its three round trips were that wrapping. At PostgreSQL's ``READ COMMITTED`` (its default, and the
site's) every statement takes its own snapshot, in a transaction or not: a view that only reads sees
exactly the same rows with the connection in autocommit, statement by statement. So a view decorated
with ``reads_without_transaction`` runs its GET in autocommit when the database is PostgreSQL at
``READ COMMITTED`` and the request's session has no transaction under way (an API token checked in the
database has opened one: the view then reads inside it, as before). At ``REPEATABLE READ`` or above (one
snapshot per transaction) and on SQLite (a read transaction is one snapshot there, and costs no round
trip), nothing changes. The connection's isolation is put back when it returns to the pool.

Such a view must not write: a flush or a write statement while it runs raises, because each of its
statements would commit alone.
"""

import functools

from flask import request
from sqlalchemy import event
from sqlalchemy.orm import Session

from .extensions import db

READS_ONLY = "neurodrop_reads_without_transaction"
#: The isolation levels at which each statement takes its own snapshot, as it does in autocommit.
SNAPSHOT_PER_STATEMENT = ("READ COMMITTED",)


class WriteWithoutTransaction(RuntimeError):
    """A view marked ``reads_without_transaction`` tried to write."""


def runs_in_autocommit(session):
    """Whether this session's next statements can go without a transaction and see what they would inside one."""
    if session.get_transaction() is not None:
        return False
    dialect = session.get_bind().dialect
    # (the server's level is known once a first connection was made: until then, transactions as before)
    return dialect.name == "postgresql" and getattr(dialect, "default_isolation_level", None) in SNAPSHOT_PER_STATEMENT


def reads_without_transaction(view):
    """Decorate a view whose GET only reads: on PostgreSQL its statements are sent without BEGIN and ROLLBACK."""
    refuse_writes_in_autocommit()

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        session = db.session()
        if request.method in ("GET", "HEAD") and runs_in_autocommit(session):
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            session.info[READS_ONLY] = True
            try:
                return view(*args, **kwargs)
            finally:
                session.info.pop(READS_ONLY, None)
        return view(*args, **kwargs)

    return wrapper


def refuse_flush(session, flush_context, instances):
    if session.info.get(READS_ONLY):
        raise WriteWithoutTransaction("a view that reads without a transaction tried to write (a flush)")


def refuse_write_statement(state):
    if state.session.info.get(READS_ONLY) and (state.is_insert or state.is_update or state.is_delete):
        raise WriteWithoutTransaction("a view that reads without a transaction tried to write (a statement)")


def refuse_writes_in_autocommit():
    """Watch every session for writes while a read-only view runs in autocommit (once per interpreter)."""
    if event.contains(Session, "before_flush", refuse_flush):
        return
    event.listen(Session, "before_flush", refuse_flush)
    event.listen(Session, "do_orm_execute", refuse_write_statement)
