"""The session cookie's signer is made once per key (webapp/cookiesession.py): same cookies, same checks."""

from flask import request, session


def test_a_request_without_the_cookie_builds_no_signer(app, monkeypatch):
    interface = app.session_interface
    monkeypatch.setattr(type(interface), "get_signing_serializer",
                        lambda self, app: (_ for _ in ()).throw(AssertionError("signer built")))
    with app.test_request_context("/"):
        assert dict(interface.open_session(app, request)) == {}


def test_the_cookie_round_trips_and_a_new_key_refuses_the_old_cookie(app):
    @app.route("/_remember/<value>")
    def remember(value):
        session["seen"] = value
        return ""

    @app.route("/_recall")
    def recall():
        return session.get("seen", "-")

    client = app.test_client()
    client.get("/_remember/kept")
    assert client.get("/_recall").get_data(as_text=True) == "kept"
    signer = app.session_interface.get_signing_serializer(app)
    assert app.session_interface.get_signing_serializer(app) is signer, "made once per key"
    app.config["SECRET_KEY_FALLBACKS"] = [app.secret_key]
    app.secret_key = "another key of enough length for a signature"
    assert client.get("/_recall").get_data(as_text=True) == "kept", "the old key still opens it as a fallback"
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert client.get("/_recall").get_data(as_text=True) == "-", "a cookie signed with a dropped key opens nothing"
