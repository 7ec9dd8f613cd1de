"""Fixtures for the tus tests: a researcher with a collection and an API token, and a small tus client."""

import pytest

from .tusclient import OTHER, OWNER, TusTestClient, make_researcher


@pytest.fixture
def researcher(app, accounts):
    return make_researcher(app, accounts, OWNER)


@pytest.fixture
def other(app, accounts):
    return make_researcher(app, accounts, OTHER, "Theirs")


@pytest.fixture
def tus(client, researcher):
    return TusTestClient(client, researcher.token)
