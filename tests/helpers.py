"""Helpers the tests import (fixtures stay in ``conftest.py``, which pytest loads by itself)."""

import contextlib
import email
import os
import re
from email import policy
from pathlib import Path

import sqlalchemy as sa

from .databases import drop_postgres_database, fresh_postgres_database

__all__ = [
    "SERVER_DATABASE_URL", "USES_POSTGRES", "Accounts", "bulk_collections", "bulk_ready_images",
    "count_postgres_round_trips", "csrf_token", "drop_postgres_database", "fresh_postgres_database", "message_text",
    "postgres_round_trips", "read_outbox", "sql_statements",
]

SERVER_DATABASE_URL = os.environ.get("DATABASE_URL", "")
USES_POSTGRES = SERVER_DATABASE_URL.startswith("postgresql")


def share_the_cache_between_processes(app, folder):
    """Give the app the page cache's store as processes share it: Redis when the run has one, else a folder
    (two apps made on the same folder then see each other's generations, as two web processes do)."""
    from webapp.extensions import cache

    if app.config["CACHE_TYPE"] != "RedisCache":
        app.config.update(CACHE_TYPE="FileSystemCache", CACHE_DIR=str(folder / "shared-cache"))
        cache.init_app(app)


def freeze_signing_time(monkeypatch):
    """One timestamp for every value signed within the test, so two builds of a page carry the same CSRF token."""
    from itsdangerous import TimestampSigner

    now = TimestampSigner.get_timestamp(None)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: now)


@contextlib.contextmanager
def sql_statements(app):
    """Every SQL statement the app sends while the block runs (query counts and shapes are asserted on them)."""
    from webapp.extensions import db

    seen = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def count_postgres_round_trips(counter):
    """Count psycopg's round trips to the server in ``counter[0]`` (any connection), until the returned function is
    called.

    Each exchange with the server (a statement, and a ``BEGIN``, ``COMMIT`` or ``ROLLBACK``, which psycopg sends
    on its own) runs through ``psycopg.generators.execute``: send, then wait for the answer. Operations that need
    no server (setting ``autocommit``, a ``rollback`` outside a transaction) send nothing and are not counted.
    """
    import psycopg._cursor_base
    import psycopg.generators

    execute = psycopg.generators.execute

    def counted(pgconn, *args, **kwargs):
        counter[0] += 1
        return (yield from execute(pgconn, *args, **kwargs))

    psycopg.generators.execute = psycopg._cursor_base.execute = counted

    def stop():
        psycopg.generators.execute = psycopg._cursor_base.execute = execute

    return stop


@contextlib.contextmanager
def postgres_round_trips():
    """A one-item list counting psycopg's round trips to the server while the block runs (any connection)."""
    counter = [0]
    stop = count_postgres_round_trips(counter)
    try:
        yield counter
    finally:
        stop()


def read_outbox(folder):
    """The messages in an outbox folder, oldest first, parsed."""
    paths = sorted(Path(folder).glob("*.eml"))
    return [email.message_from_bytes(path.read_bytes(), policy=policy.default) for path in paths]


def message_text(message):
    """The plain-text body of a parsed message."""
    part = message.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else ""


def csrf_token(client, path):
    """The CSRF token from a page's form, as a browser would have it."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def collection_id_of(app, owner_id, name="Study", **fields):
    """The id of a new collection of ``owner_id``, committed (the fixtures' usual first step)."""
    from webapp.extensions import db
    from webapp.models import Collection

    with app.app_context():
        collection = Collection(owner_id=owner_id, name=name, **fields)
        db.session.add(collection)
        db.session.commit()
        return collection.id


def bulk_collections(owner_id, count, name="Bulk"):
    """``count`` public collections of one owner in one INSERT (a world larger than a page, cheaply)."""
    import secrets

    from webapp.extensions import db
    from webapp.models import Collection

    rows = [{"name": f"{name} {n:05d}", "owner_id": owner_id, "share_token": secrets.token_urlsafe(24)}
            for n in range(count)]
    db.session.execute(sa.insert(Collection), rows)
    db.session.commit()


def bulk_ready_images(collection_id, count, uploader_id=None):
    """``count`` ready images in one collection in one INSERT; their files are never read."""
    from webapp.extensions import db
    from webapp.models import Collection, Image

    rows = [{"collection_id": collection_id, "uploader_id": uploader_id, "name": f"bulk {n:05d}",
             "original_filename": f"bulk{n}.nii.gz", "storage_key": f"originals/bu/lk/{n:064d}",
             "file_size": 10, "sha256": f"{n:064x}", "status": Image.READY, "map_type": "Z"} for n in range(count)]
    db.session.execute(sa.insert(Image), rows)
    db.session.get(Collection, collection_id).refresh_image_count()
    db.session.commit()


class Accounts:
    """Make users (returning their ids) and log them in through the real forms.

    The app fixture pushes no app context around requests (a shared one would
    share ``g`` between requests); tests read the database inside ``app.app_context()``.
    """

    def __init__(self, app, client):
        self.app = app
        self.client = client

    def create(self, email="researcher@example.org", password="correct horse battery", admin=False):
        from flask_security import hash_password

        from webapp.extensions import db
        from webapp.models import utcnow

        with self.app.app_context():
            datastore = self.app.extensions["security"].datastore
            user = datastore.create_user(email=email, password=hash_password(password), confirmed_at=utcnow())
            if admin:
                datastore.add_role_to_user(user, datastore.find_or_create_role("admin"))
            db.session.commit()
            return user.id

    def login(self, email="researcher@example.org", password="correct horse battery", client=None):
        client = client or self.client
        token = csrf_token(client, "/accounts/login")
        return client.post(
            "/accounts/login", data={"email": email, "password": password, "csrf_token": token}, follow_redirects=False
        )

    def logout(self, client=None):
        client = client or self.client
        return client.post("/accounts/logout", data={"csrf_token": csrf_token(client, "/")})
