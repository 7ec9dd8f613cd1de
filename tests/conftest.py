"""Fixtures shared by the whole suite.

App tests get a fresh app per test (tasks eager, SQLite file under ``tmp_path``,
or the session's PostgreSQL database emptied after each test when
``DATABASE_URL`` points at PostgreSQL). End-to-end tests share one live site:
a real web server process and a real Celery worker process (see ``tests/live.py``).
"""

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db

from .databases import drop_postgres_database, fresh_postgres_database
from .helpers import SERVER_DATABASE_URL, USES_POSTGRES, Accounts, read_outbox


@pytest.fixture(scope="session")
def postgres_url():
    """A database of its own for this test run when the suite runs on PostgreSQL, else None."""
    if not USES_POSTGRES:
        yield None
        return
    url = fresh_postgres_database(SERVER_DATABASE_URL)
    yield url
    drop_postgres_database(url)


@pytest.fixture(scope="session")
def postgres_schema(postgres_url, tmp_path_factory):
    """Build the schema once per run with the real migrations."""
    if postgres_url is None:
        return None
    from flask_migrate import upgrade

    os.environ["INSTANCE_DIR"] = str(tmp_path_factory.mktemp("schema-instance"))
    os.environ["DATABASE_URL"] = postgres_url
    app = create_app(TestConfig())
    with app.app_context():
        upgrade()
        db.engine.dispose()
    os.environ["DATABASE_URL"] = SERVER_DATABASE_URL
    return postgres_url


def empty_all_tables():
    names = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
    db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    db.session.commit()


@pytest.fixture
def app(tmp_path, monkeypatch, postgres_schema):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("BASE_URL", "http://neurodrop.test")
    monkeypatch.delenv("MAIL_SERVER", raising=False)
    monkeypatch.setenv("DATABASE_URL", postgres_schema or f"sqlite:///{tmp_path / 'app.sqlite'}")
    app = create_app(TestConfig())
    with app.app_context():
        if postgres_schema is None:
            db.create_all()
    yield app
    with app.app_context():
        if postgres_schema is not None:
            empty_all_tables()
        db.engine.dispose()
    allow_eager_results_again()


def allow_eager_results_again():
    """Undo what concurrent eager tasks can leave behind: Celery's process-wide "never call result.get()" flag.

    An eager ``delay()`` sets that flag for the task's run and puts back the value it found. Two requests
    of one test running tasks on two threads interleave those saves, and the flag stays set for every
    later test, whose ``.delay().get()`` then raises.
    """
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def outbox(app):
    """A callable returning the app's sent messages so far."""
    return lambda: read_outbox(app.config["MAIL_OUTBOX_DIR"])


@pytest.fixture
def accounts(app, client):
    return Accounts(app, client)


@pytest.fixture(scope="session")
def live_site(tmp_path_factory):
    """One live site (web server + worker processes) shared by the end-to-end tests of a run."""
    from .live import LiveSite

    database_url = fresh_postgres_database(SERVER_DATABASE_URL, "nd_live") if USES_POSTGRES else None
    broker = os.environ.get("CELERY_BROKER_URL") or None
    site = LiveSite(tmp_path_factory.mktemp("live"), database_url=database_url, broker_url=broker)
    site.start()
    yield site
    site.stop()
    if database_url:
        drop_postgres_database(database_url)


CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    """One Debian Chromium (driven by Playwright's sync API) for every browser test of the run.

    Playwright's sync API cannot start twice in one process while the first is open, so the
    browser tests of every folder share this one. Skips, saying why, when it cannot start here.
    """
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (Python) is not installed")
    executable = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if executable is None:
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's `chromium` (make browser) or set CHROMIUM")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
