"""Sessions and tokens that end (issue 21, items 9 and 10): Flask-Security's login tokens open nothing,
a logout ends the session on the server too, and a page showing a new API token is never stored."""

import pytest
from flask import Response

from tests.helpers import csrf_token
from webapp.extensions import db
from webapp.models import User
from webapp.pagecache import is_shareable_response

from .world import OWNER, PASSWORD, build_world


@pytest.fixture
def world(app, accounts, tmp_path):
    return build_world(app, accounts, tmp_path)


def login_token(app, user_id):
    """The token Flask-Security would hand a JSON login (``include_auth_token``)."""
    with app.app_context():
        return db.session.get(User, user_id).get_auth_token()


def test_flask_security_login_tokens_open_nothing(app, world):
    token = login_token(app, world.ids["owner"])
    private = f"/collections/{world.ids['private_collection']}"
    assert world.clients["owner"].get(private).status_code == 200
    visitor = world.clients["anonymous"]
    assert visitor.get(f"{private}?auth_token={token}").status_code == 404
    assert visitor.get(private, headers={"X-Neurodrop-Session-Token": token}).status_code == 404
    assert visitor.get(f"/accounts/profile?auth_token={token}").status_code in (302, 401)
    assert visitor.get(f"/api/collections/{world.ids['private_collection']}/?auth_token={token}").status_code == 404
    assert visitor.get("/api/my_collections/", json={"auth_token": token}).status_code == 401
    assert visitor.get(f"/api/my_collections/?auth_token={token}").status_code == 401
    assert app.config["SECURITY_API_ENABLED_METHODS"] == ["session"]


def test_api_tokens_travel_only_in_the_authorization_header(world):
    visitor, token = world.clients["anonymous"], world.tokens["owner"]
    assert visitor.get("/api/my_collections/", headers={"Authorization": f"Token {token}"}).status_code == 200
    for query in (f"token={token}", f"auth_token={token}", f"Authorization=Token%20{token}"):
        assert visitor.get(f"/api/my_collections/?{query}").status_code == 401, query


def log_out(client):
    answer = client.post("/accounts/logout", data={"csrf_token": csrf_token(client, "/accounts/profile")})
    assert answer.status_code == 302


def test_a_saved_session_cookie_is_dead_after_logout(app, world, accounts):
    browser = app.test_client()
    assert accounts.login(OWNER, PASSWORD, client=browser).status_code == 302
    assert browser.get("/accounts/profile").status_code == 200
    saved = browser.get_cookie("session").value
    elsewhere = app.test_client()
    assert accounts.login(OWNER, PASSWORD, client=elsewhere).status_code == 302
    log_out(browser)
    assert browser.get("/accounts/profile").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", saved)
    assert thief.get("/accounts/profile").status_code == 302, "the copied cookie must not outlive the logout"
    assert thief.get(f"/collections/{world.ids['private_collection']}").status_code == 404
    assert elsewhere.get("/accounts/profile").status_code == 302, "a logout ends every session of the user"
    token = {"Authorization": f"Token {world.tokens['owner']}"}
    assert thief.get("/api/my_collections/", headers=token).status_code == 200, "API tokens are separate"
    assert accounts.login(OWNER, PASSWORD, client=browser).status_code == 302
    assert browser.get("/accounts/profile").status_code == 200


def test_a_saved_remember_cookie_is_dead_after_logout(app, world):
    browser = app.test_client()
    data = {"email": OWNER, "password": PASSWORD, "remember": "y", "csrf_token": csrf_token(browser, "/accounts/login")}
    assert browser.post("/accounts/login", data=data).status_code == 302
    remembered = browser.get_cookie("remember_token")
    assert remembered is not None
    log_out(browser)
    thief = app.test_client()
    thief.set_cookie("remember_token", remembered.value)
    assert thief.get("/accounts/profile").status_code == 302


def test_the_page_showing_a_new_token_is_never_stored(world):
    owner = world.clients["owner"]
    page = owner.get("/accounts/tokens")
    assert "no-store" in page.headers["Cache-Control"]
    made = owner.post("/accounts/tokens", data={"name": "laptop", "csrf_token": csrf_token(owner, "/accounts/tokens")})
    assert made.status_code == 200
    assert "no-store" in made.headers["Cache-Control"] and "private" in made.headers["Cache-Control"]


def test_the_page_cache_never_keeps_a_no_store_answer(app):
    with app.test_request_context("/"):
        assert is_shareable_response(Response("public page"))
        assert not is_shareable_response(Response("secret", headers={"Cache-Control": "no-store, private"}))
