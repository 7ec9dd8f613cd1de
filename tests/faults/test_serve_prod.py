"""``make serve-prod`` — the commands docker-compose.yml runs — on PostgreSQL, Redis and a real SMTP server.

Migrations, gunicorn, two workers and beat come up; an upload ends ``ready`` with its
email delivered over SMTP; SIGTERM stops every process of the stack.
"""

import os
import signal
import subprocess
import time
import urllib.request
import uuid

import pytest

from tests.helpers import drop_postgres_database, fresh_postgres_database
from tests.live import ROOT, LiveSite, free_port
from tests.niftigen import small_map

from .sites import (
    POSTGRES_SERVER,
    REDIS_SERVER,
    emails_for,
    new_collection,
    private_queue_env,
    reachable,
    upload,
    wait_until,
)
from .smtpsink import SmtpSink, mailbox_name

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not (reachable("127.0.0.1", 5432) and reachable("127.0.0.1", 6379)),
                       reason="needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379"),
]


def healthy(url):
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_make_serve_prod_runs_the_stack(tmp_path):
    database_url = fresh_postgres_database(POSTGRES_SERVER, "nd_prod")
    smtp_port = free_port()
    sender = f"serve-prod-{smtp_port}@neurodrop.test"
    sink = SmtpSink(smtp_port, tmp_path / "mail").start()
    settings = private_queue_env({
        "NEURODROP_ENV": "production",
        "SECRET_KEY": uuid.uuid4().hex * 2,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "MAIL_DEFAULT_SENDER": f"neurodrop <{sender}>",
        "WORKERS": "2",
        "WORKER_CONCURRENCY": "1",
        "WEB_CONCURRENCY": "2",
    })
    site = LiveSite(tmp_path / "site", database_url=database_url, broker_url=f"{REDIS_SERVER}/1",
                    extra_env=settings)
    site.env["HOST"] = "127.0.0.1"
    site.mail_dir = sink.folder / mailbox_name(sender)
    log = open(tmp_path / "serve-prod.log", "ab")
    stack = subprocess.Popen(["make", "--no-print-directory", "serve-prod"], cwd=ROOT, env=site.env,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: healthy(site.url) or stack.poll() is not None, 180, "the stack did not come up")
        assert stack.poll() is None, (tmp_path / "serve-prod.log").read_text()[-3000:]

        email = site.create_user("prod@example.org")
        session = site.login(email)
        collection_id = new_collection(site, session, "production maps")
        entry = upload(site, session, collection_id, "map.nii.gz", small_map(tmp_path / "map.nii.gz").read_bytes())
        image = site.wait_for_final(entry["id"], seconds=120)
        assert image.status == "ready", image.error
        [message] = wait_until(lambda: emails_for(site, entry["id"]), 60, "no email over SMTP")
        assert message["To"] == "prod@example.org"
    finally:
        stopped = stop_group(stack)
        site.stop()
        sink.stop()
        drop_postgres_database(database_url)
    assert stopped, "a process of the stack was still running 90 s after SIGTERM"


def group_alive(leader):
    """Whether any process of the leader's group is left (the leader is reaped first: a zombie still counts)."""
    leader.poll()
    try:
        os.killpg(leader.pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_group(leader, seconds=90):
    """SIGTERM the stack's process group; whether every process left in time (SIGKILL for any that did not)."""
    os.killpg(leader.pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not group_alive(leader):
            return True
        time.sleep(0.5)
    os.killpg(leader.pid, signal.SIGKILL)
    leader.wait(timeout=10)
    return False
