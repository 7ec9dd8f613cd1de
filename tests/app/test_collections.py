"""Collections: owners create, edit and delete; others get 404 on private ones; share links work."""

import re

import pytest

from webapp.extensions import db
from webapp.models import Collection

from ..helpers import csrf_token

OWNER = "owner@example.org"
OTHER = "other@example.org"


def create_collection(client, **fields):
    data = {"name": "Working memory", "description": "n-back", "authors": "A. Lovelace", "csrf_token": None}
    data.update(fields)
    data["csrf_token"] = csrf_token(client, "/collections/new")
    return client.post("/collections/new", data=data)


@pytest.fixture
def owner(accounts):
    accounts.create(OWNER)
    accounts.create(OTHER)
    accounts.login(OWNER)
    return accounts


def collection_id(response):
    return int(re.search(r"/collections/(\d+)", response.headers["Location"]).group(1))


def test_owner_creates_edits_and_deletes(app, client, owner):
    created = create_collection(client, doi="10.1234/abcd.5", private="y")
    assert created.status_code == 302
    cid = collection_id(created)
    page = client.get(f"/collections/{cid}")
    assert page.status_code == 200 and b"Working memory" in page.data and b"10.1234/abcd.5" in page.data

    edit_url = f"/collections/{cid}/edit"
    edited = client.post(edit_url, data={"name": "Renamed", "doi": "", "csrf_token": csrf_token(client, edit_url)})
    assert edited.status_code == 302
    with app.app_context():
        collection = db.session.get(Collection, cid)
        assert collection.name == "Renamed" and collection.private is False and collection.doi is None

    delete_url = f"/collections/{cid}/delete"
    assert b"cannot be undone" in client.get(delete_url).data
    assert client.post(delete_url, data={"csrf_token": csrf_token(client, delete_url)}).status_code == 302
    assert client.get(f"/collections/{cid}").status_code == 404


def test_form_errors_rerender_with_message(client, owner):
    response = create_collection(client, name="", doi="not a doi")
    assert response.status_code == 400
    assert b"This field is required" in response.data and b"A DOI looks like" in response.data


def test_duplicate_doi_is_refused(client, owner):
    create_collection(client, doi="10.5555/dup")
    response = create_collection(client, name="Second", doi="10.5555/dup")
    assert response.status_code == 400 and b"already has this DOI" in response.data


def test_private_collection_is_404_to_others_and_share_link_opens_it(app, client, owner):
    cid = collection_id(create_collection(client, private="y", name="Secret <b>map</b>"))
    mine = client.get("/collections/mine")
    assert b"Secret &lt;b&gt;map&lt;/b&gt;" in mine.data
    with app.app_context():
        token = db.session.get(Collection, cid).share_token
    owner.logout()

    assert client.get(f"/collections/{cid}").status_code == 404
    assert b"Secret" not in client.get("/collections/").data
    owner.login(OTHER)
    assert client.get(f"/collections/{cid}").status_code == 404
    assert client.get(f"/collections/{cid}/edit").status_code == 404

    visitor = app.test_client()
    assert visitor.get(f"/collections/share/{token}").status_code == 302
    assert visitor.get(f"/collections/{cid}").status_code == 200
    assert visitor.get("/collections/share/not-the-token").status_code == 404


def test_others_cannot_edit_or_delete_a_public_collection(app, client, owner):
    cid = collection_id(create_collection(client))
    owner.logout()
    assert client.get(f"/collections/{cid}").status_code == 200
    anonymous_edit = client.get(f"/collections/{cid}/edit")
    assert anonymous_edit.status_code in (302, 401)
    owner.login(OTHER)
    assert client.get(f"/collections/{cid}/edit").status_code == 403
    token = csrf_token(client, "/collections/new")
    assert client.post(f"/collections/{cid}/delete", data={"csrf_token": token}).status_code == 403
    with app.app_context():
        assert db.session.get(Collection, cid) is not None


def test_form_without_csrf_token_is_refused(app, client, owner):
    response = client.post("/collections/new", data={"name": "No token"})
    assert response.status_code == 400
    with app.app_context():
        assert Collection.query.count() == 0


def test_public_list_searches(client, owner):
    create_collection(client, name="Emotion faces", authors="Grace Hopper")
    create_collection(client, name="Motor tapping")
    listing = client.get("/collections/?q=hopper")
    assert b"Emotion faces" in listing.data and b"Motor tapping" not in listing.data
