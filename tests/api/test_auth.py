"""Authentication: Token and Bearer keys, 401s in JSON, and CSRF for browser sessions."""

import io
import re

import pytest

from webapp.extensions import db
from webapp.models import ApiToken, utcnow


def test_token_and_bearer_both_authenticate(owner, client):
    for scheme in ("Token", "Bearer", "token"):
        answer = client.get("/api/user", headers={"Authorization": f"{scheme} {owner.secret}"})
        assert answer.status_code == 200
        assert answer.get_json() == {"id": owner.id, "username": f"user {owner.id}", "email": "owner@example.org"}


@pytest.mark.parametrize("path", ["/api/user", "/api/my_collections/"])
def test_missing_credentials_are_a_json_401(client, path):
    answer = client.get(path)
    assert answer.status_code == 401 and answer.is_json
    assert answer.get_json() == {"detail": "Authentication credentials were not provided."}
    assert answer.headers["WWW-Authenticate"].startswith("Token")


@pytest.mark.parametrize("header", ["Token wrong", "Bearer wrong", "Token ", "Token a b"])
def test_wrong_token_is_a_401_everywhere(client, owner, header):
    for path in ("/api/user", "/api/collections/", "/api/images/"):
        answer = client.get(path, headers={"Authorization": header})
        assert answer.status_code == 401 and "detail" in answer.get_json()
    assert client.post("/api/collections/", json={"name": "x"}, headers={"Authorization": header}).status_code == 401


def test_revoked_token_stops_working_and_use_is_recorded(app, owner, client):
    assert owner.get("/api/user").status_code == 200
    with app.app_context():
        token = ApiToken.find_active(owner.secret)
        assert token.last_used_at is not None
        token.revoked_at = utcnow()
        db.session.commit()
    assert owner.get("/api/user").status_code == 401


def test_other_authorization_schemes_are_anonymous(client):
    assert client.get("/api/collections/", headers={"Authorization": "Basic dXNlcjpwdw=="}).status_code == 200
    assert client.get("/api/user", headers={"Authorization": "Basic dXNlcjpwdw=="}).status_code == 401


def test_writes_need_a_login(client):
    assert client.post("/api/collections/", json={"name": "x"}).status_code == 401
    assert client.post("/api/collections", data={"name": "x"}).status_code == 401


def page_csrf_token(client):
    page = client.get("/accounts/tokens").get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def test_session_cookie_works_for_reads_and_needs_csrf_for_writes(app, client, accounts, no_worker):
    user_id = accounts.create("browser@example.org")
    accounts.login("browser@example.org")
    assert client.get("/api/user").get_json()["id"] == user_id
    refused = client.post("/api/collections/", json={"name": "From JS"})
    assert refused.status_code == 403 and "CSRF" in refused.get_json()["detail"]
    token = page_csrf_token(client)
    made = client.post("/api/collections/", json={"name": "From JS"}, headers={"X-CSRFToken": token})
    assert made.status_code == 201
    cid = made.get_json()["id"]
    assert client.patch(f"/api/collections/{cid}/", json={"name": "x"}).status_code == 403
    assert client.patch(f"/api/collections/{cid}/", json={"name": "Renamed"},
                        headers={"X-CSRFToken": token}).get_json()["name"] == "Renamed"
    upload = client.post(f"/api/collections/{cid}/images/", data={"file": (b"x", "a.nii")},
                         content_type="multipart/form-data")
    assert upload.status_code == 403 and "CSRF" in upload.get_json()["detail"]
    accepted = client.post(f"/api/collections/{cid}/images/", data={"file": (io.BytesIO(b"x"), "a.nii")},
                           headers={"X-CSRFToken": token}, content_type="multipart/form-data")
    assert accepted.status_code == 201 and no_worker == [accepted.get_json()["id"]]


def test_token_requests_need_no_csrf_even_with_a_session(client, accounts, owner):
    accounts.login("owner@example.org")
    assert owner.post("/api/collections/", json={"name": "Scripted"}).status_code == 201
