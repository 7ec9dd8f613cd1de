"""A live neurodrop site for end-to-end tests: a real web server process and a real Celery worker process.

The site runs on the same kind of services as the rest of the run: the embedded
defaults (SQLite + kombu's SQL broker) or, when ``DATABASE_URL`` points at
PostgreSQL, a fresh database of its own on that server and the Redis broker of
``CELERY_BROKER_URL``. Its schema is built by the real migrations.
"""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a live passphrase"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def environment(values):
    """Temporarily set environment variables in this process."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class LiveSite:
    """Start, stop, restart and inspect one live site."""

    def __init__(self, folder, database_url=None, broker_url=None, extra_env=None, web_workers=None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web_workers = web_workers or int(os.environ.get("LIVE_WEB_WORKERS", "1"))
        self.mail_dir = self.folder / "outbox"
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("MAIL_SERVER", "FLASK_APP")},
            "INSTANCE_DIR": str(self.folder),
            "DATABASE_URL": database_url or f"sqlite:///{self.folder / 'site.sqlite'}",
            "CELERY_BROKER_URL": broker_url or f"sqla+sqlite:///{self.folder / 'broker.sqlite'}",
            "BASE_URL": self.url,
            "PORT": str(self.port),
            "STUCK_AFTER_SECONDS": "30",
            "SWEEP_INTERVAL_SECONDS": "3",
            "PYTHONUNBUFFERED": "1",
            "RATELIMIT_ENABLED": "false",
            "PAGE_CACHE_PREFIX": f"site-{self.port}-{uuid.uuid4().hex[:8]}:",
            **self.smtp_sink_env(),
            **(extra_env or {}),
        }
        self.web = None
        self.workers = []
        self._app = None

    def smtp_sink_env(self):
        """Send through the run's real SMTP server when there is one (``.ci/run`` starts ``tests.faults.smtpsink``).

        The sink files messages by envelope sender, so this site sends from an address of
        its own and reads its mail from that folder; otherwise mail goes to the ``.eml`` outbox.
        """
        sink = os.environ.get("SMTP_SINK_DIR")
        if not (sink and os.environ.get("MAIL_SERVER")):
            return {}
        sender = f"site-{self.port}@neurodrop.test"
        self.mail_dir = Path(sink) / sender
        return {
            "MAIL_SERVER": os.environ["MAIL_SERVER"],
            "MAIL_PORT": os.environ.get("MAIL_PORT", "25"),
            "MAIL_DEFAULT_SENDER": f"neurodrop <{sender}>",
        }

    # processes -------------------------------------------------------------------------

    def run_flask(self, *args, check=True):
        """Run a ``flask --app webapp`` command against this site; returns its stdout."""
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "webapp", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def migrate(self):
        self.run_flask("db", "upgrade")

    def start_web(self):
        log = open(self.folder / "web.log", "ab")
        self.web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.web_workers),
             "--worker-class", "gthread", "--threads", "8", "--timeout", "300", "--graceful-timeout", "5", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.wait_until_up()

    def stop_web(self, sig=signal.SIGTERM):
        if self.web and self.web.poll() is None:
            os.killpg(self.web.pid, sig)
            self.web.wait(timeout=30)
        self.web = None

    def restart_web(self):
        self.stop_web()
        self.start_web()

    def start_worker(self, concurrency=1, beat=True, name=None):
        """Start a Celery worker process (with the periodic sweep when ``beat``)."""
        name = name or f"w{len(self.workers) + 1}-{self.port}"
        args = [sys.executable, "-m", "celery", "-A", "celery_worker", "worker", "--loglevel=INFO",
                f"--concurrency={concurrency}", f"--hostname={name}@%h", "--without-gossip", "--without-mingle"]
        if beat:
            args += ["-B", f"--schedule={self.folder / f'beat-{name}'}"]
        log = open(self.folder / f"worker-{name}.log", "ab")
        worker = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker, sig=signal.SIGKILL):
        """Stop a worker and every process of its group (its pool children too); SIGKILL if it lingers."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, sig)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        self.workers.remove(worker)

    def wait_until_up(self, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                raise RuntimeError(f"web server died:\n{(self.folder / 'web.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("web server did not answer in time")

    def web_errors(self):
        """The web server's logged unhandled errors (their first lines), for a test's failure message."""
        log = (self.folder / "web.log").read_text(errors="replace")
        return [line[:1500] for line in log.splitlines() if "unhandled error" in line]

    def start(self):
        self.migrate()
        self.start_web()
        self.start_worker()
        return self

    def stop(self):
        for worker in list(self.workers):
            self.kill_worker(worker, signal.SIGTERM)
        self.stop_web()
        if self._app is not None:
            from webapp.extensions import db

            with self._app.app_context():
                db.engine.dispose()

    # inspection ------------------------------------------------------------------------

    @property
    def app(self):
        """An in-process app bound to the site's database and storage, for reading rows."""
        if self._app is None:
            from webapp import create_app
            from webapp.config import Config

            with environment({k: v for k, v in self.env.items() if k.isupper()}):
                self._app = create_app(Config())
        return self._app

    def image(self, image_id):
        from webapp.extensions import db
        from webapp.models import Image

        with self.app.app_context():
            image = db.session.get(Image, image_id)
            db.session.expunge_all()
            return image

    def wait_for_final(self, image_id, seconds=120):
        """The image once it is ready or failed (fails the test on timeout)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            image = self.image(image_id)
            if image is not None and image.status in ("ready", "failed"):
                return image
            time.sleep(0.3)
        raise AssertionError(f"image {image_id} is not final after {seconds} s: {self.image(image_id).status}")

    def outbox(self):
        from tests.helpers import read_outbox

        return read_outbox(self.mail_dir)

    def wait_for_email(self, predicate, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = [m for m in self.outbox() if predicate(m)]
            if found:
                return found
            time.sleep(0.3)
        raise AssertionError("the expected email did not arrive")

    # accounts --------------------------------------------------------------------------

    def create_user(self, email, password=PASSWORD, admin=False):
        self.run_flask("accounts", "create", email, "--password", password, *(["--admin"] if admin else []))
        return email

    def token_for(self, email):
        return self.run_flask("accounts", "token", email).strip()

    def login(self, email, password=PASSWORD):
        """A requests session logged in through the real login form."""
        session = requests.Session()
        page = session.get(self.url + "/accounts/login").text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        answer = session.post(self.url + "/accounts/login",
                              data={"email": email, "password": password, "csrf_token": token},
                              allow_redirects=False)
        assert answer.status_code == 302, answer.text[:500]
        session.csrf_token = token
        return session


def csrf_of(session, url):
    """The CSRF token of the form on the page at ``url``, as a browser would submit it."""
    page = session.get(url, timeout=60).text
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def new_collection(site, session, name):
    """The id of a collection made through the site's own form by a logged-in ``session``."""
    token = csrf_of(session, site.url + "/collections/new")
    answer = session.post(site.url + "/collections/new", data={"name": name, "csrf_token": token},
                          allow_redirects=False, timeout=60)
    assert answer.status_code == 302, answer.text[:500]
    return int(re.search(r"/collections/(\d+)", answer.headers["Location"]).group(1))
