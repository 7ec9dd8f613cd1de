"""Accounts end to end with the test client: the links arrive in the outbox."""

import re

from webapp.models import ApiToken, User, hash_token

from ..helpers import csrf_token, message_text

EMAIL = "ada@example.org"
PASSWORD = "a long enough passphrase"


def link_in(message, marker):
    match = re.search(r"https?://[^/\s]+(/\S*" + marker + r"\S*)", message_text(message))
    assert match, message_text(message)
    return match.group(1).rstrip(".,)>\"'")


def register(client, email=EMAIL, password=PASSWORD):
    return client.post(
        "/accounts/register",
        data={
            "email": email,
            "password": password,
            "password_confirm": password,
            "csrf_token": csrf_token(client, "/accounts/register"),
        },
    )


def login(client, email=EMAIL, password=PASSWORD):
    return client.post(
        "/accounts/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(client, "/accounts/login")},
    )


def test_register_confirm_login_logout_reset(app, client, outbox):
    assert register(client).status_code == 302
    messages = outbox()
    assert len(messages) == 1 and messages[0]["To"] == EMAIL
    confirm = link_in(messages[0], "confirm")

    assert client.get(confirm).status_code == 302
    assert login(client).status_code == 302
    profile = client.get("/accounts/profile")
    assert profile.status_code == 200 and EMAIL.encode() in profile.data

    client.post("/accounts/logout", data={"csrf_token": csrf_token(client, "/")})
    assert client.get("/accounts/profile").status_code in (302, 401)

    client.post("/accounts/reset", data={"email": EMAIL, "csrf_token": csrf_token(client, "/accounts/reset")})
    reset = link_in(outbox()[-1], "reset")
    new_password = "another long passphrase"
    answer = client.post(
        reset,
        data={"password": new_password, "password_confirm": new_password, "csrf_token": csrf_token(client, reset)},
    )
    assert answer.status_code == 302
    assert login(client, password=PASSWORD).status_code == 200
    assert login(client, password=new_password).status_code == 302


def test_passwords_are_hashed_with_argon2(app, client):
    register(client)
    with app.app_context():
        user = User.query.filter_by(email=EMAIL).one()
        assert user.password.startswith("$argon2")


def test_wrong_password_and_unknown_email_answer_alike(app, client, accounts):
    accounts.create(EMAIL, PASSWORD)
    wrong = login(client, password="not the password")
    unknown = login(client, email="nobody@example.org", password="not the password")
    assert wrong.status_code == unknown.status_code == 200

    def errors(response):
        return re.findall(r'class="[^"]*(?:fs-error-msg|error)[^"]*"[^>]*>([^<]+)<', response.get_data(as_text=True))

    assert errors(wrong) == errors(unknown) and errors(wrong)


def test_reset_for_unknown_email_reveals_nothing(app, client, accounts, outbox):
    accounts.create(EMAIL, PASSWORD)
    known = client.post("/accounts/reset", data={"email": EMAIL, "csrf_token": csrf_token(client, "/accounts/reset")})
    unknown = client.post(
        "/accounts/reset", data={"email": "ghost@example.org", "csrf_token": csrf_token(client, "/accounts/reset")}
    )
    assert known.status_code == unknown.status_code
    assert len(outbox()) == 1


def test_login_form_without_csrf_is_refused(app, client, accounts):
    accounts.create(EMAIL, PASSWORD)
    response = client.post("/accounts/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code in (200, 400)
    assert client.get("/accounts/profile").status_code in (302, 401)


def test_change_password(app, client, accounts):
    accounts.create(EMAIL, PASSWORD)
    login(client)
    new = "a brand new passphrase"
    response = client.post(
        "/accounts/change",
        data={
            "password": PASSWORD,
            "new_password": new,
            "new_password_confirm": new,
            "csrf_token": csrf_token(client, "/accounts/change"),
        },
    )
    assert response.status_code == 302
    client.post("/accounts/logout", data={"csrf_token": csrf_token(client, "/")})
    assert login(client, password=new).status_code == 302


def test_api_tokens_are_shown_once_stored_hashed_and_revocable(app, client, accounts):
    accounts.create(EMAIL, PASSWORD)
    login(client)
    token_form = {"name": "laptop", "csrf_token": csrf_token(client, "/accounts/tokens")}
    page = client.post("/accounts/tokens", data=token_form)
    secret = re.search(r'id="new-token">([0-9a-f]+)<', page.get_data(as_text=True)).group(1)
    with app.app_context():
        token = ApiToken.query.one()
        assert token.token_hash == hash_token(secret) and secret not in (token.token_hash, token.prefix)
    again = client.get("/accounts/tokens").get_data(as_text=True)
    assert secret not in again and "laptop" in again
    client.post(f"/accounts/tokens/{token.id}/revoke", data={"csrf_token": csrf_token(client, "/accounts/tokens")})
    with app.app_context():
        assert ApiToken.find_active(secret) is None


def issue_token(app, email=EMAIL):
    from webapp.extensions import db

    with app.app_context():
        user = User.query.filter_by(email=email).one()
        _, secret = ApiToken.issue(user, "scripts")
        db.session.commit()
        return secret


def api_answers(client, secret):
    return client.get("/api/user", headers={"Authorization": f"Token {secret}"}).status_code


def test_a_password_change_revokes_every_api_token(app, client, accounts):
    """Issue 21: tokens made by whoever knew the old password kept working after the change."""
    accounts.create(EMAIL, PASSWORD)
    secrets_ = [issue_token(app), issue_token(app)]
    accounts.create("bystander@example.org", PASSWORD)
    bystander = issue_token(app, "bystander@example.org")
    assert [api_answers(app.test_client(), s) for s in secrets_] == [200, 200]
    login(client)
    page = client.get("/accounts/tokens").get_data(as_text=True)
    assert "Changing or resetting your password revokes all your API tokens" in page
    new = "a brand new passphrase"
    answer = client.post("/accounts/change", data={
        "password": PASSWORD, "new_password": new, "new_password_confirm": new,
        "csrf_token": csrf_token(client, "/accounts/change")})
    assert answer.status_code == 302
    assert [api_answers(app.test_client(), s) for s in secrets_] == [401, 401]
    assert api_answers(app.test_client(), bystander) == 200


def test_a_password_reset_revokes_every_api_token(app, client, accounts, outbox):
    accounts.create(EMAIL, PASSWORD)
    secret = issue_token(app)
    client.post("/accounts/reset", data={"email": EMAIL, "csrf_token": csrf_token(client, "/accounts/reset")})
    reset = link_in(outbox()[-1], "reset")
    new = "another long passphrase"
    form = {"password": new, "password_confirm": new, "csrf_token": csrf_token(client, reset)}
    assert client.post(reset, data=form).status_code == 302
    assert api_answers(app.test_client(), secret) == 401
    with app.app_context():
        assert ApiToken.query.filter(ApiToken.revoked_at.is_(None)).count() == 0


def answer_without_secrets(response, address):
    """The page as anyone would compare it: the CSRF token and the address typed in blanked out."""
    page = re.sub(r'name="csrf_token"[^>]*>', "", response.get_data(as_text=True)).replace(address, "ADDRESS")
    return response.status_code, page


def test_reset_and_confirm_requests_do_the_same_work_for_known_and_unknown_addresses(app, client, accounts,
                                                                                      monkeypatch, outbox):
    """Issue 21: a known address took twice as long (token, templates, SMTP). Now the request only queues
    a task with the address, whoever it belongs to; the worker looks it up."""
    from webapp.processing import emails

    accounts.create(EMAIL, PASSWORD)
    register(client, "unconfirmed@example.org")
    queued, mailed = [], []
    monkeypatch.setattr(emails.send_account_instructions, "delay", lambda *args: queued.append(args))
    monkeypatch.setattr(emails.send_account_email, "delay", lambda *args: mailed.append(args))
    for path, known in (("/accounts/reset", EMAIL), ("/accounts/confirm", "unconfirmed@example.org")):
        answers = [
            answer_without_secrets(
                client.post(path, data={"email": address, "csrf_token": csrf_token(client, path)}), address)
            for address in (known, "ghost@example.org")
        ]
        assert answers[0] == answers[1] and answers[0][0] == 200
    assert queued == [("reset", EMAIL), ("reset", "ghost@example.org"),
                      ("confirm", "unconfirmed@example.org"), ("confirm", "ghost@example.org")]
    assert mailed == [] and len(outbox()) == 1  # only the registration's, sent before the patch


def test_queued_instructions_arrive_for_accounts_only(app, client, accounts, outbox):
    """Eager Celery (the tests, ``make run`` without a worker): the task runs at once and the email is in the outbox."""
    accounts.create(EMAIL, PASSWORD)
    register(client, "unconfirmed@example.org")
    assert len(outbox()) == 1
    for address in ("ghost@example.org", "unconfirmed@example.org"):
        client.post("/accounts/reset", data={"email": address, "csrf_token": csrf_token(client, "/accounts/reset")})
    assert len(outbox()) == 1, "no reset for an unknown or an unconfirmed account"
    client.post("/accounts/reset", data={"email": EMAIL.upper(), "csrf_token": csrf_token(client, "/accounts/reset")})
    assert outbox()[-1]["To"] == EMAIL and link_in(outbox()[-1], "reset").startswith("/accounts/reset/")
    client.post("/accounts/confirm", data={"email": EMAIL, "csrf_token": csrf_token(client, "/accounts/confirm")})
    assert len(outbox()) == 2, "an account already confirmed gets no second confirmation"
    client.post("/accounts/confirm",
                data={"email": "unconfirmed@example.org", "csrf_token": csrf_token(client, "/accounts/confirm")})
    assert outbox()[-1]["To"] == "unconfirmed@example.org" and link_in(outbox()[-1], "confirm")
    assert len(outbox()) == 3


def test_every_flask_security_email_goes_through_celery(app, client, monkeypatch, outbox):
    from webapp.processing import emails

    mailed = []
    monkeypatch.setattr(emails.send_account_email, "delay", lambda *args: mailed.append(args))
    assert register(client).status_code == 302
    assert outbox() == [] and len(mailed) == 1
    subject, recipient, sender, body, html = mailed[0]
    assert recipient == EMAIL and "/accounts/confirm/" in body
