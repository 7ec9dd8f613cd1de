"""Live sites of their own for the fault tests: fresh database, private queue, real processes.

Each test that breaks something gets a site nobody else uses, so a killed worker
or a stopped broker never touches the shared ``live_site`` (which may be running
on the same Redis: a private queue name keeps the two sites' tasks apart).
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid

from tests.helpers import SERVER_DATABASE_URL, USES_POSTGRES, drop_postgres_database, fresh_postgres_database
from tests.live import PASSWORD, ROOT, LiveSite, csrf_of, new_collection

POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_SERVER = "redis://127.0.0.1:6379"


def reachable(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def private_queue_env(extra_env=None):
    """Settings that give the site a queue name of its own (on a shared Redis), plus the test's own.

    Rate limits are off: a fault test logs many clients in from one address at once.
    """
    queue = f"nd-fault-{uuid.uuid4().hex[:8]}"
    return {
        "CELERY_EXTRA_JSON": f'{{"task_default_queue": "{queue}"}}',
        "RATELIMIT_ENABLED": "false",
        **(extra_env or {}),
    }


@contextlib.contextmanager
def own_site(folder, *, database="mode", broker_url=None, extra_env=None, web_workers=None, workers=1,
             beat=True):
    """A started site: migrations, web server, ``workers`` workers (the first with the periodic sweep).

    ``database="mode"`` follows the run (PostgreSQL when ``DATABASE_URL`` says so, else SQLite);
    ``database="postgres"`` always takes a fresh database on 127.0.0.1:5432.
    """
    server = POSTGRES_SERVER if database == "postgres" else (SERVER_DATABASE_URL if USES_POSTGRES else None)
    database_url = fresh_postgres_database(server, "nd_fault") if server else None
    broker = broker_url or os.environ.get("CELERY_BROKER_URL") or None
    site = LiveSite(folder, database_url=database_url, broker_url=broker, extra_env=private_queue_env(extra_env),
                    web_workers=web_workers)
    try:
        site.migrate()
        site.start_web()
        for number in range(workers):
            site.start_worker(beat=beat and number == 0)
        yield site
    finally:
        site.stop()
        if database_url:
            drop_postgres_database(database_url)


def start_beat(site):
    """The periodic sweep as its own process, as ``docker-compose.yml`` runs it (survives any worker's death)."""
    log = open(site.folder / "beat.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_worker", "beat", "--loglevel=INFO",
         f"--schedule={site.folder / 'beat-schedule'}"],
        cwd=ROOT, env=site.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    site.workers.append(process)
    return process


def create_users(site, emails):
    """Confirmed accounts made in-process on the site's database (faster than one CLI call each)."""
    from flask_security import hash_password

    from webapp.extensions import db
    from webapp.models import utcnow

    with site.app.app_context():
        datastore = site.app.extensions["security"].datastore
        hashed = hash_password(PASSWORD)
        for email in emails:
            datastore.create_user(email=email, password=hashed, confirmed_at=utcnow())
        db.session.commit()
    return list(emails)


def researcher(site, email):
    """A logged-in session and a collection of its own."""
    create_users(site, [email])
    session = site.login(email)
    return session, new_collection(site, session, f"maps of {email}")


def upload(site, session, collection_id, name, data, expect=201):
    """POST one file through the upload page as the page's script does; returns the JSON entry."""
    url = f"{site.url}/collections/{collection_id}/upload"
    token = csrf_of(session, url)
    answer = session.post(url, data={"csrf_token": token}, files=[("file", (name, data, "application/octet-stream"))],
                          headers={"Accept": "application/json"}, timeout=120)
    assert answer.status_code == expect, f"{answer.status_code}: {answer.text[:500]}"
    return answer.json()["images"][0]


def emails_for(site, image_id):
    return [m for m in site.outbox() if m["X-Neurodrop-Image"] == str(image_id)]


def rows_of(site, image_id):
    """(artifact kinds, number of stats rows) of an image: a result written twice would show here."""
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import Artifact, ImageStats

    with site.app.app_context():
        kinds = db.session.scalars(sa.select(Artifact.kind).where(Artifact.image_id == image_id)).all()
        stats = db.session.scalar(sa.select(sa.func.count()).select_from(ImageStats)
                                  .where(ImageStats.image_id == image_id))
        db.session.remove()
    return sorted(kinds), stats


def wait_until(predicate, seconds, message, interval=0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message)


