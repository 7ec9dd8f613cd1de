"""A small world for the security tests: an owner with a public and a private collection (one
processed map in each), another user, an admin, and a visitor holding the private share link;
one test client per actor, each logged in through the real login form."""

import pytest

from .world import build_world


@pytest.fixture
def world(app, accounts, tmp_path):
    return build_world(app, accounts, tmp_path)
