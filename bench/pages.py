"""Figure 4: page latency under load, p50 and p99 with wrk, against a bare Flask route in the same run.

The site (gunicorn as tests/live.py starts it, on PostgreSQL, its page cache
on Redis) is seeded with bulk INSERTs (tests/visitors/seed.py): the image page,
the collection page and /images/ with 10,000 images; /api/images/?limit=100
with 1,000 and then 100,000 rows. The reference is ``bench.hello`` under the
same gunicorn settings.

Each address is loaded twice: as an anonymous visitor (served by the page
cache, webapp/pagecache.py, which is what visitors get) and with an API token
(``Authorization`` bypasses the cache, so every request builds the page: the
cost of a cache miss). The API list's 100,000 / 1,000 ratio is taken on the
built path, where it says whether the list's cost grows with the table.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

from bench.common import ROOT, Row, quick
from bench.sites import live_site

FIGURE = "4 pages"
PAGE_GOAL = 3.0
SCALE_GOAL = 1.5
CONNECTIONS = 8
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def wrk(url: str, seconds: int, headers: dict | None = None) -> dict[str, float]:
    """p50 and p99 in seconds and requests per second; fails on any non-2xx/3xx answer."""
    flags = [f"--header={name}: {value}" for name, value in (headers or {}).items()]
    out = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", *flags, url],
                         capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"errors while loading {url}:\n{out}")
    latency = {q: float(v) * _UNITS[u] for q, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"p50": latency["50"], "p99": latency["99"], "rate": rate}


class BareSite:
    """``bench.hello`` under gunicorn with the site's worker settings."""

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class",
             "gthread", "--threads", "8", "bench.hello:app"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url, timeout=2).read()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.2)

    def stop(self):
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def seed(site, n_images: int, state: dict) -> None:
    """Grow the one public collection to ``n_images`` images."""
    from tests.visitors.seed import seed_collections, seed_images, seed_user
    from webapp.extensions import db

    with site.app.app_context():
        if "collection" not in state:
            state["owner"] = seed_user("pages@example.org")
            state["collection"] = seed_collections(state["owner"], 1)[0]
            state["ids"] = []
        while len(state["ids"]) < n_images:
            batch = min(10_000, n_images - len(state["ids"]))
            state["ids"] += seed_images([state["collection"]], batch, state["owner"])
        db.session.commit()
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
        db.session.remove()


def compare(site, bare: BareSite, path: str, seconds: int, headers: dict | None = None) -> tuple[dict, dict]:
    url = site.url + path
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as answer:
        if answer.status != 200:
            raise RuntimeError(f"{path}: {answer.status}")
    wrk(url, 1, headers)
    reference = wrk(bare.url, seconds)
    return wrk(url, seconds, headers), reference


def page_rows(what: str, shared: tuple[dict, dict], built: tuple[dict, dict]) -> list[Row]:
    """The visitors' figure (goal) and its p99, then the same address built on every request."""
    (ours, bare), (ours_built, bare_built) = shared, built
    ratio = ours["p50"] / bare["p50"]
    return [Row(FIGURE, f"{what} p50", ours["p50"], bare["p50"], "ms", ratio, f"<= {PAGE_GOAL:g}x bare",
                ratio <= PAGE_GOAL, f"{ours['rate']:.0f} req/s vs {bare['rate']:.0f}"),
            Row(FIGURE, f"{what} p99", ours["p99"], bare["p99"], "ms", ours["p99"] / bare["p99"]),
            Row(FIGURE, f"{what} built per request p50", ours_built["p50"], bare_built["p50"], "ms",
                ours_built["p50"] / bare_built["p50"], note=f"{ours_built['rate']:.0f} req/s; a page cache miss")]


def run() -> list[Row]:
    if shutil.which("wrk") is None:
        return [Row(FIGURE, "pages", None, note="wrk is not installed (make bench installs it with apt-get)")]
    from tests.live import free_port

    small = quick()
    seconds = 2 if small else 10
    n_pages, n_small, n_large = (1_000, 100, 10_000) if small else (10_000, 1_000, 100_000)
    rows, state = [], {}
    with live_site("redis", workers=0) as site:
        bare = BareSite(free_port())
        signed_in = {"Authorization": f"Token {site.token_for(site.create_user('caller@example.org'))}"}
        try:
            seed(site, n_small, state)
            api_small = compare(site, bare, "/api/images/?limit=100", seconds, signed_in)
            seed(site, n_pages, state)
            image_id = state["ids"][len(state["ids"]) // 2]
            for what, path in ((f"image page ({n_pages:,} images)", f"/images/{image_id}"),
                               (f"collection page ({n_pages:,} images)", f"/collections/{state['collection']}"),
                               (f"/images/ list ({n_pages:,} images)", "/images/")):
                rows += page_rows(what, compare(site, bare, path, seconds),
                                  compare(site, bare, path, seconds, signed_in))
            seed(site, n_large, state)
            api_path = "/api/images/?limit=100"
            api_large = compare(site, bare, api_path, seconds, signed_in)
            rows += page_rows(f"/api/images/?limit=100 ({n_large:,} rows)", compare(site, bare, api_path, seconds),
                              api_large)
        finally:
            bare.stop()
    growth = api_large[0]["p50"] / api_small[0]["p50"]
    rows.append(Row(FIGURE, f"API list built p50, {n_large:,} vs {n_small:,} rows", api_large[0]["p50"],
                    api_small[0]["p50"], "ms", growth, f"<= {SCALE_GOAL:g}", growth <= SCALE_GOAL))
    return rows
