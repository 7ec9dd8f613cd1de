"""Accounts against guessing and probing: rate limits per client address, no email enumeration,
argon2 hashes, tokens that stop working when revoked."""

import re
import socket
import uuid

import pytest

from tests.helpers import Accounts, csrf_token
from webapp.extensions import db
from webapp.models import ApiToken, User

EMAIL, PASSWORD = "ada@example.org", "a long enough passphrase"


@pytest.fixture
def limited(monkeypatch, request):
    """An app with rate limits on (the suite's TestConfig has them off), small budgets, memory store."""
    monkeypatch.setenv("RATELIMIT_ENABLED", "true")
    for name in ("LOGIN", "REGISTER", "RESET", "TOKENS"):
        monkeypatch.setenv(f"RATELIMIT_{name}", "3/minute")
    for name, value in getattr(request, "param", {}).items():
        monkeypatch.setenv(name, value)
    return request.getfixturevalue("app")


def from_address(address):
    return {"environ_base": {"REMOTE_ADDR": address}}


def post_login(client, password=PASSWORD, **kwargs):
    data = {"email": EMAIL, "password": password, "csrf_token": csrf_token(client, "/accounts/login")}
    return client.post("/accounts/login", data=data, **kwargs)


def test_login_is_limited_per_address_and_says_when_to_retry(limited):
    Accounts(limited, limited.test_client()).create(EMAIL, PASSWORD)
    client = limited.test_client()
    for _ in range(3):
        assert post_login(client, "wrong guess").status_code == 200
    refused = post_login(client)
    assert refused.status_code == 429, "even the right password waits once the budget is spent"
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many requests" in refused.get_data(as_text=True)
    assert client.get("/accounts/login").status_code == 200, "reading the form is free"
    elsewhere = limited.test_client()
    assert post_login(elsewhere, **from_address("10.1.2.3")).status_code == 302


def test_json_callers_get_json_429(limited):
    client = limited.test_client()
    for _ in range(3):
        post_login(client, "wrong")
    refused = client.post("/accounts/login", json={"email": EMAIL, "password": "x"},
                          headers={"Accept": "application/json", "X-CSRFToken": csrf_token(client, "/accounts/login")})
    assert refused.status_code == 429 and "detail" in refused.get_json()


def test_login_reauthentication_and_password_change_share_one_budget(limited):
    Accounts(limited, limited.test_client()).create(EMAIL, PASSWORD)
    client = limited.test_client()
    assert post_login(client).status_code == 302
    change = {"password": "wrong", "new_password": "x" * 12, "new_password_confirm": "x" * 12,
              "csrf_token": csrf_token(client, "/accounts/change")}
    assert client.post("/accounts/change", data=change).status_code == 200
    verify = {"password": "wrong", "csrf_token": csrf_token(client, "/accounts/verify")}
    assert client.post("/accounts/verify", data=verify).status_code == 200
    assert client.post("/accounts/change", data=change).status_code == 429


@pytest.mark.parametrize("path, data", [
    ("/accounts/register", {"email": "new{n}@example.org", "password": PASSWORD, "password_confirm": PASSWORD}),
    ("/accounts/reset", {"email": EMAIL}),
    ("/accounts/confirm", {"email": EMAIL}),
])
def test_forms_that_send_email_are_limited(limited, outbox, path, data):
    Accounts(limited, limited.test_client()).create(EMAIL, PASSWORD)
    client = limited.test_client()
    answers = []
    for n in range(4):
        form = {key: value.format(n=n) for key, value in data.items()}
        answers.append(client.post(path, data={**form, "csrf_token": csrf_token(client, path)}).status_code)
    assert answers[:3] != [429] * 3 and 429 not in answers[:3], answers
    assert answers[3] == 429
    assert len(outbox()) <= 3


def test_token_creation_is_limited(limited):
    accounts = Accounts(limited, limited.test_client())
    accounts.create(EMAIL, PASSWORD)
    client = limited.test_client()
    accounts.login(EMAIL, PASSWORD, client=client)
    for n in range(3):
        form = {"name": f"laptop {n}", "csrf_token": csrf_token(client, "/accounts/tokens")}
        assert client.post("/accounts/tokens", data=form).status_code == 200
    form = {"name": "one too many", "csrf_token": csrf_token(client, "/accounts/tokens")}
    assert client.post("/accounts/tokens", data=form).status_code == 429
    with limited.app_context():
        assert ApiToken.query.count() == 3


@pytest.mark.parametrize("limited", [{"PROXY_COUNT": "1"}], indirect=True)
def test_behind_a_trusted_proxy_each_visitor_has_a_budget(limited):
    client = limited.test_client()
    for _ in range(3):
        post_login(client, "wrong", headers={"X-Forwarded-For": "198.51.100.7"})
    assert post_login(client, "wrong", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 429
    assert post_login(client, "wrong", headers={"X-Forwarded-For": "198.51.100.8"}).status_code == 200


def test_without_a_trusted_proxy_a_forged_forwarded_for_changes_nothing(limited):
    client = limited.test_client()
    for n in range(3):
        post_login(client, "wrong", headers={"X-Forwarded-For": f"203.0.113.{n}"})
    assert post_login(client, "wrong", headers={"X-Forwarded-For": "203.0.113.99"}).status_code == 429


def redis_up():
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379")
@pytest.mark.parametrize("limited", [{"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/15",
                                      "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}"}], indirect=True)
def test_web_processes_share_the_budget_through_redis(limited):
    """Two apps on one Redis store (like two gunicorn workers) count together."""
    from webapp import create_app
    from webapp.config import TestConfig

    twin = create_app(TestConfig())
    first, second = limited.test_client(), twin.test_client()
    for client in (first, second, first):
        assert post_login(client, "wrong").status_code == 200
    assert post_login(second, "wrong").status_code == 429


@pytest.mark.parametrize("limited", [{"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:9/0"}], indirect=True)
def test_a_dead_limit_store_fails_open_not_500(limited):
    Accounts(limited, limited.test_client()).create(EMAIL, PASSWORD)
    assert post_login(limited.test_client()).status_code == 302


def register(client, email):
    data = {"email": email, "password": PASSWORD, "password_confirm": PASSWORD,
            "csrf_token": csrf_token(client, "/accounts/register")}
    return client.post("/accounts/register", data=data, follow_redirects=True)


def visible_text(answer, email):
    """The page without its per-request tokens and the address the visitor typed."""
    return re.sub(r'value="[^"]{20,}"', 'value=""', answer.get_data(as_text=True)).replace(email, "EMAIL")


def test_registering_a_taken_email_answers_like_a_new_one(app, client, accounts, outbox):
    accounts.create(EMAIL, PASSWORD)
    taken = register(app.test_client(), EMAIL)
    new = register(app.test_client(), "newcomer@example.org")
    assert taken.status_code == new.status_code == 200
    assert visible_text(taken, EMAIL) == visible_text(new, "newcomer@example.org")
    assert taken.request.path == new.request.path
    with app.app_context():
        assert User.query.filter_by(email=EMAIL).count() == 1
    assert sorted(m["To"] for m in outbox()) == sorted([EMAIL, "newcomer@example.org"]), \
        "the owner of the taken address hears about it, by email only"


def test_passwords_are_stored_as_argon2id(app, accounts):
    user_id = accounts.create(EMAIL, PASSWORD)
    with app.app_context():
        stored = db.session.get(User, user_id).password
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_a_revoked_token_is_refused_by_the_api_and_others_cannot_revoke_it(app, client, accounts):
    owner_id = accounts.create(EMAIL, PASSWORD)
    accounts.create("mallory@example.org", PASSWORD)
    with app.app_context():
        token, secret = ApiToken.issue(db.session.get(User, owner_id), "laptop")
        db.session.commit()
        token_id = token.id
    headers = {"Authorization": f"Token {secret}"}
    assert client.get("/api/my_collections/", headers=headers).status_code == 200

    mallory = app.test_client()
    accounts.login("mallory@example.org", PASSWORD, client=mallory)
    answer = mallory.post(f"/accounts/tokens/{token_id}/revoke",
                          data={"csrf_token": csrf_token(mallory, "/accounts/tokens")})
    assert answer.status_code == 404
    assert client.get("/api/my_collections/", headers=headers).status_code == 200

    accounts.login(EMAIL, PASSWORD)
    client.post(f"/accounts/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(client, "/accounts/tokens")})
    anonymous = app.test_client()
    assert anonymous.get("/api/my_collections/", headers=headers).status_code == 401
