"""Security headers on every answer, a strict CSP that every page honours, and the cookies' flags."""

import re

import pytest

from webapp import create_app
from webapp.config import TestConfig
from webapp.security_headers import csp_header_value

from .world import ACTORS, inline_code_in

#: A concrete URL for each GET route, from the world's ids (a new GET route needs a line here).
PAGE_ARGS = {
    "collection_id": "public_collection",
    "image_id": "public_image",
    "ref": "public_collection",
    "token_id": None,
    "upload_id": None,
    "user_id": "owner",
    "other_id": "public_image",
}
#: Route arguments that are names or numbers of their own rather than ids of the world's objects.
FIXED_ARGS = {"picture": "scatter", "index": 0, "search_id": "0" * 32, "batch_id": 1, "file_name": "map.nii.gz",
              "share_token": "0" * 32}


def get_pages(app, world):
    """(endpoint, url) for every route that answers GET, filled with the owner's public objects."""
    pages = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        values = {}
        for arg in rule.arguments:
            if arg in ("filename",):
                values[arg] = "css/site.css" if rule.endpoint == "static" else "missing.css"
            elif arg == "kind":
                values[arg] = "glass_brain"
            elif arg in FIXED_ARGS:
                values[arg] = FIXED_ARGS[arg]
            elif arg == "token":
                values[arg] = world.ids["share_token"] if rule.endpoint == "collections.shared" else "bogus-token"
            else:
                values[arg] = world.ids[PAGE_ARGS[arg]]
        with app.test_request_context():
            from flask import url_for

            pages.append((rule.endpoint, url_for(rule.endpoint, **values)))
    return sorted(pages)


def test_every_answer_carries_the_security_headers(app, world):
    for actor in ("anonymous", "owner"):
        for endpoint, url in get_pages(app, world):
            answer = world.clients[actor].get(url)
            assert answer.status_code < 500, (actor, endpoint, url, answer.status_code)
            headers = answer.headers
            assert headers["Content-Security-Policy"] == csp_header_value(), url
            assert headers["X-Content-Type-Options"] == "nosniff", url
            assert headers["X-Frame-Options"] == "DENY", url
            assert headers["Referrer-Policy"] == "same-origin", url
            assert "Strict-Transport-Security" not in headers, "no HSTS on a plain-http site"


def test_no_page_has_inline_script_or_style(app, world):
    """Every HTML page, for every actor, passes the CSP: no inline code a browser would block."""
    checked = 0
    for actor in ACTORS:
        for endpoint, url in get_pages(app, world):
            answer = world.clients[actor].get(url)
            if answer.mimetype != "text/html":
                continue
            checked += 1
            assert inline_code_in(answer.get_data(as_text=True)) == [], (actor, endpoint, url)
    assert checked > 30


@pytest.mark.parametrize("path", ["/accounts/login", "/accounts/register", "/accounts/reset", "/accounts/confirm"])
def test_flask_security_pages_use_our_layout_without_inline_style(client, path):
    answer = client.get(path)
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert inline_code_in(html) == []
    assert 'href="/static/css/site.css"' in html


def test_error_pages_carry_the_policy_too(client):
    for path, status in (("/nope", 404), ("/api/nope", 404)):
        answer = client.get(path)
        assert answer.status_code == status
        assert answer.headers["Content-Security-Policy"] == csp_header_value()


def test_policy_allows_the_viewer_and_nothing_inline():
    policy = dict(part.split(" ", 1) for part in csp_header_value().split("; "))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert "unsafe-inline" not in csp_header_value() and "unsafe-eval" not in csp_header_value()
    assert policy["worker-src"] == "'self' blob:" and policy["img-src"] == "'self' data: blob:"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"


def login_cookie_header(app, accounts, remember=False):
    from tests.helpers import csrf_token

    accounts.create("cookie@example.org")
    client = app.test_client()
    data = {"email": "cookie@example.org", "password": "correct horse battery",
            "csrf_token": csrf_token(client, "/accounts/login")}
    if remember:
        data["remember"] = "y"
    # Flask-WTF checks the Referer of https form posts: Referrer-Policy same-origin keeps it.
    answer = client.post("/accounts/login", data=data, headers={"Referer": "https://localhost/accounts/login"})
    assert answer.status_code == 302, answer.get_data(as_text=True)[-800:]
    return answer.headers.getlist("Set-Cookie")


def cookie_named(cookies, name):
    [cookie] = [c for c in cookies if c.startswith(name + "=")]
    return [part.strip().lower() for part in cookie.split(";")]


def test_cookies_on_plain_http_are_httponly_and_samesite_lax(app, accounts):
    cookies = login_cookie_header(app, accounts, remember=True)
    for name in ("session", "remember_token"):
        flags = cookie_named(cookies, name)
        assert "httponly" in flags and "samesite=lax" in flags, (name, flags)
        assert "secure" not in flags


@pytest.fixture
def https_app(tmp_path, monkeypatch):
    from webapp.extensions import db

    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("BASE_URL", "https://neurodrop.example.org")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'https.sqlite'}")
    monkeypatch.delenv("MAIL_SERVER", raising=False)
    app = create_app(TestConfig())
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


def test_behind_https_cookies_are_secure_and_hsts_is_sent(https_app):
    from tests.helpers import Accounts

    cookies = login_cookie_header(https_app, Accounts(https_app, https_app.test_client()), remember=True)
    for name in ("session", "remember_token"):
        flags = cookie_named(cookies, name)
        assert {"secure", "httponly", "samesite=lax"} <= set(flags), (name, flags)
    answer = https_app.test_client().get("/healthz", base_url="https://neurodrop.example.org")
    assert re.fullmatch(r"max-age=\d+", answer.headers["Strict-Transport-Security"])
    assert answer.status_code == 200, "TLS is the proxy's job: the site never redirects to https itself"
    plain = https_app.test_client().get("/healthz")
    assert plain.status_code == 200 and "Location" not in plain.headers


def test_the_precomputed_headers_are_the_values_talisman_sent(client):
    """The headers are spelled once per app (decision 0024); these are the values Flask-Talisman sent before."""
    headers = client.get("/healthz").headers
    assert headers["Permissions-Policy"] == "camera=(), microphone=(), geolocation=(), payment=()"
    assert headers["Content-Security-Policy"] == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
        "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'")
    assert [headers[name] for name in ("X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy")] == [
        "DENY", "nosniff", "same-origin"]
    assert "X-XSS-Protection" not in headers and "Feature-Policy" not in headers
