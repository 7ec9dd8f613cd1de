"""A kept API list costs one round trip to PostgreSQL and one read of the shared cache (decision 0039).

The page's ids are its one statement: on PostgreSQL at READ COMMITTED it goes without BEGIN and ROLLBACK
(``webapp/autocommit.py``), and the generations the token's check, the list's total, the checkpoints and
the kept items depend on are read together (``pagecache.read_once``).
"""

import pytest
import sqlalchemy as sa

from tests.helpers import USES_POSTGRES, postgres_round_trips, sql_statements
from webapp import pagecache
from webapp.autocommit import WriteWithoutTransaction, reads_without_transaction
from webapp.extensions import db
from webapp.models import Image

LISTS = ("/api/images/?limit=2", "/api/images/?limit=2&offset=1", "/api/collections/?limit=2")
postgres_only = pytest.mark.skipif(not USES_POSTGRES, reason="round trips to PostgreSQL")


@pytest.fixture
def public_maps(owner, stored_image):
    collections = [owner.new_collection(f"c{n}")["id"] for n in range(3)]
    return [stored_image(collection, name=f"map {n}") for n, collection in enumerate(collections)]


def warmed(caller, path):
    """The answer once the token is kept and the page's items and total are (three requests: the first notes
    the token's use, a commit)."""
    for _ in range(3):
        answer = caller.get(path)
        assert answer.status_code == 200
    return answer.data


def round_trips(caller, path):
    with postgres_round_trips() as counted:
        answer = caller.get(path)
    assert answer.status_code == 200
    return counted[0], answer.data


@postgres_only
@pytest.mark.parametrize("path", LISTS)
def test_a_kept_list_is_one_round_trip_to_postgres(public_maps, owner, path):
    body = warmed(owner, path)
    assert round_trips(owner, path) == (1, body), "the ids' SELECT alone: no BEGIN, no ROLLBACK"


@postgres_only
def test_at_repeatable_read_the_list_reads_in_a_transaction(app, public_maps, owner, monkeypatch):
    """One snapshot per transaction: its statements must share it, so BEGIN and ROLLBACK stay."""
    body = warmed(owner, LISTS[0])
    with app.app_context():
        monkeypatch.setattr(db.engine.dialect, "default_isolation_level", "REPEATABLE READ")
    assert round_trips(owner, LISTS[0]) == (3, body)


@postgres_only
def test_a_list_built_without_a_transaction_is_the_one_built_in_a_transaction(app, public_maps, owner, monkeypatch):
    """After a change the list runs several statements (its total, its ids, the changed item's rows): each
    takes its own snapshot at READ COMMITTED, as it did inside a transaction; the answer is the same."""
    body = warmed(owner, LISTS[0])
    with app.app_context():
        db.session.get(Image, public_maps[0]).name = "renamed"
        db.session.commit()
    with sql_statements(app) as statements, postgres_round_trips() as counted:
        autocommit = owner.get(LISTS[0]).data
    assert b"renamed" in autocommit and autocommit != body
    assert counted[0] == len(statements) > 1, "each statement alone: no BEGIN, no ROLLBACK"
    with app.app_context():
        monkeypatch.setattr(db.engine.dialect, "default_isolation_level", "REPEATABLE READ")
    app.extensions["api_image_json"].clear()
    app.extensions["page_values"].clear()
    with sql_statements(app) as statements, postgres_round_trips() as counted:
        assert owner.get(LISTS[0]).data == autocommit
    assert counted[0] == len(statements) + 2


@postgres_only
def test_the_connection_goes_back_to_the_pool_with_transactions(app, public_maps, owner):
    warmed(owner, LISTS[0])
    with app.app_context():
        engine = db.engine
    returned = []

    def note(dbapi_connection, record):
        returned.append(dbapi_connection.autocommit)

    sa.event.listen(engine, "checkin", note)
    try:
        owner.get(LISTS[0])
    finally:
        sa.event.remove(engine, "checkin", note)
    assert returned == [False]
    assert owner.patch(f"/api/images/{public_maps[0]}/", json={"name": "in a transaction"}).status_code == 200


@postgres_only
@pytest.mark.parametrize("write", ["flush", "statement"])
def test_a_view_reading_without_a_transaction_cannot_write(app, public_maps, owner, write):
    def view():
        if write == "flush":
            db.session.get(Image, public_maps[0]).name = "written"
            db.session.flush()
        else:
            db.session.execute(sa.delete(Image).where(Image.id == public_maps[0]))
        return "written"

    warmed(owner, LISTS[0])  # the dialect knows the server's isolation level after a first connection
    with app.test_request_context("/probe"), pytest.raises(WriteWithoutTransaction):
        reads_without_transaction(view)()
    with app.app_context():
        assert db.session.get(Image, public_maps[0]).name == "map 0"


@pytest.mark.parametrize("path", LISTS)
def test_a_kept_list_reads_the_shared_cache_once(public_maps, owner, monkeypatch, path):
    body = warmed(owner, path)
    read = []
    generations = pagecache.generations
    monkeypatch.setattr(pagecache, "generations", lambda scopes: read.append(scopes) or generations(scopes))
    assert owner.get(path).data == body
    assert len(read) == 1 and read[0][0] == "api-tokens", "the token's generation and the list's, together"


def test_a_commit_in_the_request_forgets_the_generations_read_before_it(app, owner, public_maps):
    """What a request read once is not used after a commit it makes (its own change is not hidden)."""
    with app.test_request_context("/api/images/"):
        before = pagecache.read_once(["site", "list:images"])
        assert pagecache.read_once(["list:images"]) == {"list:images": before["list:images"]}
        image = db.session.get(Image, public_maps[0])
        image.status = Image.FAILED
        db.session.commit()
        assert pagecache.read_once(["list:images"])["list:images"] != before["list:images"]
