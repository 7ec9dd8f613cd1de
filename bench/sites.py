"""Live sites for the end-to-end figures: tests/live.py's LiveSite on the embedded defaults or on Postgres + Redis."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from pathlib import Path

import requests

POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")

# no periodic sweep or rate limit in the way of a measurement
QUIET_SITE = {"SWEEP_INTERVAL_SECONDS": "3600", "STUCK_AFTER_SECONDS": "3600", "RATELIMIT_ENABLED": "false"}
MODES = {"embedded": "SQLite + kombu SQL broker", "redis": "PostgreSQL + Redis"}


@contextlib.contextmanager
def live_site(mode: str = "embedded", *, workers: int = 1, extra_env: dict | None = None):
    """A started site (web + ``workers`` worker processes), stopped and cleaned up afterwards."""
    from tests.databases import drop_postgres_database, fresh_postgres_database
    from tests.live import LiveSite

    database_url = broker_url = None
    if mode == "redis":
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        database_url, broker_url = fresh_postgres_database(POSTGRES_SERVER, "nd_bench"), REDIS_URL
        extra_env = {"PAGE_CACHE_URL": REDIS_URL, **(extra_env or {})}
    with tempfile.TemporaryDirectory(prefix=f"bench-{mode}-") as folder:
        site = LiveSite(Path(folder), database_url=database_url, broker_url=broker_url,
                        extra_env={**QUIET_SITE, **(extra_env or {})})
        site.migrate()
        site.start_web()
        try:
            for _ in range(workers):
                site.start_worker(beat=False)
            yield site
        finally:
            site.stop()
            if database_url:
                drop_postgres_database(database_url)


class ApiClient:
    """A token-authenticated session on a live site's API, with its own collection."""

    def __init__(self, site, email="bench@example.org"):
        site.create_user(email)
        self.url = site.url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {site.token_for(email)}"
        answer = self.session.post(f"{self.url}/api/collections/", data={"name": f"bench {uuid.uuid4().hex[:6]}"})
        answer.raise_for_status()
        self.collection = answer.json()["id"]

    def upload(self, path: Path, name: str = "bench map") -> dict:
        with open(path, "rb") as handle:
            answer = self.session.post(f"{self.url}/api/collections/{self.collection}/images/",
                                       files={"file": (path.name, handle)}, data={"name": name, "map_type": "T"})
        answer.raise_for_status()
        return answer.json()

    def status(self, image_id: int) -> str:
        answer = self.session.get(f"{self.url}/api/images/{image_id}/")
        answer.raise_for_status()
        return answer.json()["status"]
