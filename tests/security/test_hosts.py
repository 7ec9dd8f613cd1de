"""Links only to our own host (issue 21, item 2): requests for another ``Host`` are refused, and every
absolute URL (account emails, the share link, API JSON) starts with ``BASE_URL`` whatever host the
request named, behind a trusted proxy too."""

import re

import pytest

from tests.helpers import csrf_token, message_text
from webapp.extensions import db
from webapp.models import Collection

BASE_URL = "http://neurodrop.test"
EMAIL, PASSWORD = "victim@example.org", "a long enough passphrase"
EVIL = "http://evil.example.org"


def links_in(messages):
    return [link for message in messages for link in re.findall(r"https?://[^\s\"'<>]+", message_text(message))]


def ask_for_reset(client, **kwargs):
    token = csrf_token(client, "/accounts/reset")
    return client.post("/accounts/reset", data={"email": EMAIL, "csrf_token": token}, **kwargs)


def test_the_trusted_hosts_setting_is_in_force(app, client):
    assert app.config["TRUSTED_HOSTS"] == ["neurodrop.test", "localhost"]
    assert client.get("/", base_url=BASE_URL).status_code == 200
    assert client.get("/").status_code == 200, "the test client's own host"
    for host in ("evil.example.org", "neurodrop.test.evil.example.org", "127.0.0.1"):
        answer = client.get("/", base_url=f"http://{host}")
        assert answer.status_code == 400, host
    assert client.get("/", headers={"Host": "evil.example.org"}).status_code == 400


def test_a_reset_asked_for_another_host_is_refused_and_sends_nothing(app, client, accounts, outbox):
    accounts.create(EMAIL, PASSWORD)
    answer = client.post("/accounts/reset", data={"email": EMAIL}, base_url=EVIL)
    assert answer.status_code == 400
    answer = ask_for_reset(client, headers={"Host": "evil.example.org"})
    assert answer.status_code == 400
    assert outbox() == []
    assert ask_for_reset(client).status_code in (200, 302)
    assert [link for link in links_in(outbox()) if "/accounts/reset/" in link][0].startswith(BASE_URL + "/")


def test_account_emails_link_to_base_url_only(app, client, accounts, outbox):
    """The reset, the confirmation and the "already registered" emails, asked for on an allowed other name."""
    accounts.create(EMAIL, PASSWORD)
    assert ask_for_reset(client, headers={"X-Forwarded-Host": "evil.example.org"}).status_code in (200, 302)
    token = csrf_token(client, "/accounts/register")
    for email in ("new@example.org", EMAIL):
        client.post("/accounts/register", data={"email": email, "password": PASSWORD, "password_confirm": PASSWORD,
                                                "csrf_token": token})
    messages = outbox()
    assert len(messages) == 3
    links = links_in(messages)
    assert any("/accounts/reset/" in link for link in links) and any("/accounts/confirm/" in link for link in links)
    assert links and all(link.startswith(BASE_URL + "/") for link in links), links


def test_the_share_link_and_api_links_come_from_base_url(app, client, accounts):
    owner_id = accounts.create(EMAIL, PASSWORD)
    with app.app_context():
        collection = Collection(owner_id=owner_id, name="Private", private=True)
        db.session.add(collection)
        db.session.commit()
        collection_id, share_token = collection.id, collection.share_token
    accounts.login(EMAIL, PASSWORD)
    page = client.get(f"/collections/{collection_id}").get_data(as_text=True)
    assert f'href="{BASE_URL}/collections/share/{share_token}"' in page
    assert "localhost" not in page
    listing = client.get("/api/my_collections/?limit=1", headers={"X-Forwarded-Host": "evil.example.org"})
    assert listing.get_json()["results"][0]["url"].startswith(BASE_URL + "/")


@pytest.fixture
def proxied(monkeypatch, request):
    """An app behind one trusted proxy (``PROXY_COUNT=1``)."""
    monkeypatch.setenv("PROXY_COUNT", "1")
    return request.getfixturevalue("app")


def test_behind_a_proxy_only_the_trusted_hop_names_the_host(proxied, outbox):
    client = proxied.test_client()
    assert client.get("/", headers={"X-Forwarded-Host": "evil.example.org"}).status_code == 400
    spoofed = {"X-Forwarded-Host": "evil.example.org, neurodrop.test"}
    assert client.get("/", headers=spoofed).status_code == 200, "the client's own value is not the proxy's"
    assert client.get("/", headers={"X-Forwarded-Host": "neurodrop.test"}).status_code == 200


def test_without_a_proxy_forwarded_host_is_ignored(app, client):
    assert app.config["PROXY_COUNT"] == 0
    answer = client.get("/", headers={"X-Forwarded-Host": "evil.example.org"})
    assert answer.status_code == 200 and "evil.example.org" not in answer.get_data(as_text=True)


def test_trusted_hosts_come_from_base_url_and_allowed_hosts():
    from webapp.config import trusted_hosts

    assert trusted_hosts("https://maps.example.org", []) == ["maps.example.org"]
    assert trusted_hosts("https://maps.example.org", ["www.example.org"]) == ["maps.example.org", "www.example.org"]
    assert trusted_hosts("http://localhost:5000", []) == ["localhost", "127.0.0.1"]
    assert trusted_hosts("http://127.0.0.1:8123", []) == ["127.0.0.1", "localhost"]


def test_make_run_answers_on_both_loopback_names_and_nothing_else(monkeypatch, tmp_path):
    from webapp import create_app
    from webapp.config import Config

    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    for name in ("BASE_URL", "ALLOWED_HOSTS", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(Config())
    client = app.test_client()
    assert client.get("/api/", base_url="http://localhost:5000").status_code != 400
    assert client.get("/api/", base_url="http://127.0.0.1:5000").status_code != 400
    assert client.get("/api/", base_url="http://evil.example.org:5000").status_code == 400
