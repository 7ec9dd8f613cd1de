"""Fixtures for the API's app-level tests: users with tokens, and collections and images made directly.

Images made by ``add_stored_image`` skip the worker (their status and flags are
set by the test), so most tests stay fast; the upload tests go through the
real route, and the end-to-end tests through a real worker."""

import pytest

from webapp.extensions import db
from webapp.models import ApiToken, User

from .callers import Caller, add_stored_image


@pytest.fixture
def make_caller(app, client, accounts):
    def make(email):
        user_id = accounts.create(email)
        with app.app_context():
            _, secret = ApiToken.issue(db.session.get(User, user_id), "tests")
            db.session.commit()
        return Caller(app, client, user_id, secret, email)

    return make


@pytest.fixture
def owner(make_caller):
    return make_caller("owner@example.org")


@pytest.fixture
def stranger(make_caller):
    return make_caller("stranger@example.org")


@pytest.fixture
def stored_image(app):
    return lambda collection_id, **fields: add_stored_image(app, collection_id, **fields)


@pytest.fixture
def no_worker(monkeypatch):
    """Keep uploads ``uploaded``: record what would be queued instead of processing it in-process."""
    queued = []
    monkeypatch.setattr("webapp.api.collection_routes.queue_processing", queued.extend)
    return queued
