"""Lists cost O(page): the number of SQL statements does not grow with the rows listed or stored."""

import pytest

from tests.helpers import sql_statements


def statements_for(app, caller, path):
    with sql_statements(app) as statements:
        answer = caller.get(path)
    assert answer.status_code == 200
    return len(statements), len(answer.get_json()["results"])


@pytest.mark.parametrize("path", ["/api/collections/{cid}/images/", "/api/images/"])
def test_image_lists_query_count_is_independent_of_page_size(app, owner, client, stored_image, path):
    cid = owner.new_collection()["id"]
    for n in range(12):
        stored_image(cid, stats={"max": n}, name=f"map {n}")
    path = path.format(cid=cid)
    statements_for(app, client, path + "?limit=1")  # the list's total is then kept while the list is unchanged
    small = statements_for(app, client, path + "?limit=2")
    large = statements_for(app, client, path + "?limit=12")
    assert small[1] == 2 and large[1] == 12
    assert small[0] == large[0], "each row is serialised from what the page query loaded"
    for _ in range(2):  # the token's use noted (a commit), then its user kept (webapp/api/tokens.py)
        owner.get(path + "?limit=1")
    assert statements_for(app, owner, path + "?limit=2")[0] == statements_for(app, owner, path + "?limit=12")[0]


def test_collection_lists_query_count_is_independent_of_page_size(app, owner, stranger, client):
    for n in range(6):
        (owner if n % 2 else stranger).new_collection(f"c{n}")
    statements_for(app, client, "/api/collections/?limit=1")  # the list's total is then kept while it is unchanged
    assert statements_for(app, client, "/api/collections/?limit=2")[0] == statements_for(
        app, client, "/api/collections/?limit=6")[0]
    assert statements_for(app, owner, "/api/my_collections/?limit=1")[0] == statements_for(
        app, owner, "/api/my_collections/?limit=6")[0]


def test_a_token_and_its_user_come_in_one_statement(app, owner):
    from webapp.models import ApiToken

    with app.app_context(), sql_statements(app) as statements:
        token = ApiToken.find_active(owner.secret)
        assert token.user.id == owner.id
    assert len(statements) == 1


@pytest.mark.parametrize("path", ["/api/images/?limit=2", "/api/images/?limit=2&offset=1", "/api/collections/?limit=1",
                                  "/api/collections/?limit=1&offset=1"])
def test_a_public_lists_page_statement_is_built_once(app, owner, stranger, stored_image, monkeypatch, path):
    """The public lists' queries and their pages' statements are built once per process, not per request
    (SQLAlchemy computes a statement's cache key once per object)."""
    from webapp.api import paging

    for n in range(3):
        stored_image((owner if n % 2 else stranger).new_collection(f"c{n}")["id"], name=f"map {n}")
    first = owner.get(path)
    built = []
    page_keys = paging.page_keys
    monkeypatch.setattr(paging, "page_keys", lambda *args: built.append(args) or page_keys(*args))
    for _ in range(2):
        assert owner.get(path).data == first.data
    assert built == []
