"""A token's user is kept in each web process, and a revocation is refused by every process at once.

Two apps on one database and one shared cache stand for two web processes (webapp/api/tokens.py):
the second keeps the token from its first request, the first revokes it (or the user is deactivated
or deleted), and the second's very next request is a 401.
"""

import pytest
import sqlalchemy as sa

from tests.helpers import csrf_token, share_the_cache_between_processes, sql_statements
from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db
from webapp.models import ApiToken, User, utcnow


@pytest.fixture(autouse=True)
def cache_shared_by_processes(app, tmp_path):
    share_the_cache_between_processes(app, tmp_path)


@pytest.fixture
def other_process(app):
    """A second app on the same database and shared cache, with its own kept tokens, as another process has."""
    config = TestConfig()
    for name in ("CACHE_TYPE", "CACHE_DIR", "CACHE_REDIS_URL", "CACHE_KEY_PREFIX"):
        if name in app.config:
            setattr(config, name, app.config[name])
    other = create_app(config)
    assert other.config["SQLALCHEMY_DATABASE_URI"] == app.config["SQLALCHEMY_DATABASE_URI"]
    assert app.config["CACHE_TYPE"] in ("FileSystemCache", "RedisCache")
    yield other.test_client()
    with other.app_context():
        db.engine.dispose()


def whoami(client, secret):
    return client.get("/api/user", headers={"Authorization": f"Token {secret}"})


def test_a_kept_token_needs_no_database_lookup(app, owner, client):
    for _ in range(2):  # the first notes the token's use (a commit: a new generation), the second keeps it
        assert whoami(client, owner.secret).status_code == 200
    with sql_statements(app) as statements:
        assert client.get("/api/images/", headers=owner.headers).status_code == 200
    assert not any("api_token" in statement for statement in statements)
    assert whoami(client, owner.secret).get_json()["id"] == owner.id


def revoke_by_row(app, owner):
    with app.app_context():
        db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == owner.id)).revoked_at = utcnow()
        db.session.commit()


def revoke_by_statement(app, owner):
    with app.app_context():
        db.session.execute(sa.update(ApiToken).where(ApiToken.user_id == owner.id).values(revoked_at=utcnow()))
        db.session.commit()


def deactivate(app, owner):
    with app.app_context():
        db.session.get(User, owner.id).active = False
        db.session.commit()


def delete_user(app, owner):
    with app.app_context():
        db.session.delete(db.session.get(User, owner.id))
        db.session.commit()


@pytest.mark.parametrize("change", [revoke_by_row, revoke_by_statement, deactivate, delete_user])
def test_a_revoked_token_is_refused_by_another_process_at_once(app, owner, other_process, change):
    for _ in range(2):
        assert whoami(other_process, owner.secret).status_code == 200
    with sql_statements(app) as statements:
        assert other_process.get("/api/images/", headers=owner.headers).status_code == 200
    assert not any("api_token" in statement for statement in statements), "the other process kept the token"
    change(app, owner)
    assert other_process.get("/api/images/", headers=owner.headers).status_code == 401
    assert whoami(other_process, owner.secret).status_code == 401


def test_revoking_on_the_profile_page_is_refused_at_once(app, owner, client, other_process, accounts):
    for _ in range(2):
        assert other_process.get("/api/images/", headers=owner.headers).status_code == 200
    with app.app_context():
        token_id = db.session.scalar(sa.select(ApiToken.id).where(ApiToken.user_id == owner.id))
    accounts.login(owner.email)
    form = {"csrf_token": csrf_token(client, "/accounts/tokens")}
    assert client.post(f"/accounts/tokens/{token_id}/revoke", data=form).status_code == 302
    with app.app_context():
        assert db.session.get(ApiToken, token_id).revoked_at is not None
    assert other_process.get("/api/images/", headers=owner.headers).status_code == 401
