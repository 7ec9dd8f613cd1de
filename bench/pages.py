"""Figure 4: page latency under load, p50 and p99 with wrk, against a bare Flask route in the same run.

The site (gunicorn as tests/live.py starts it, on PostgreSQL, its page cache
on Redis) is seeded by ``COPY`` (bench/copyseed.py): ``BENCH_IMAGES`` ready
public images (1,000,000; 20,000 with BENCH_QUICK) in ``BENCH_COLLECTIONS``
collections (one per 50 images). The reference is ``bench.hello`` under the
same gunicorn settings.

Each address is loaded with an API token and ``Cache-Control: no-cache``
(``Authorization`` bypasses the visitors' page cache, ``no-cache`` the copy
kept for that caller, decision 0036: every request builds the page, the
goal), with the token alone for the HTML pages (the copy kept for the
caller: what a signed-in researcher gets on a second view), and as an
anonymous visitor (the shared copy, webapp/pagecache.py). Then the anonymous image page again while maps arrive
in other collections at 5 per second (generations per collection keep its
copy), and the deep /images/ page (a keyset link) and the API's deep offset against their first pages.

``BENCH_PAGES_ONLY=offset`` (comma-separated parts of the rows' names) loads only the matching addresses.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

from bench.common import ROOT, Row, quick
from bench.sites import live_site

FIGURE = "4 pages"
PAGE_GOAL = 3.0
API_GOAL = 5.0
SEARCH_GOAL = 10.0
SCALE_GOAL = 1.5
UPLOADS_PER_SECOND = 5.0
PER_PAGE = 24  # webapp/images/views.py
CONNECTIONS = 8
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def wrk(url: str, seconds: int, headers: dict | None = None) -> dict[str, float]:
    """p50 and p99 in seconds and requests per second; fails on any non-2xx/3xx answer."""
    flags = [f"--header={name}: {value}" for name, value in (headers or {}).items()]
    out = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "30s", "--latency", *flags,
                          url],
                         capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    if "Non-2xx" in out or "Socket errors" in out or re.search(r"^\s+0 requests in", out, re.M):
        summary = re.search(r"^\s*(\d+ requests in .*)$", out, re.M)
        raise RuntimeError(f"errors while loading {url}: {summary.group(1) if summary else 'no summary'}\n{out}")
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


def compare(site, bare: BareSite, path: str, seconds: int, headers: dict | None = None) -> tuple[dict, dict]:
    url = site.url + path
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as answer:
        if answer.status != 200:
            raise RuntimeError(f"{path}: {answer.status}")
    wrk(url, 1, headers)
    reference = wrk(bare.url, seconds)
    return wrk(url, seconds, headers), reference


def page_rows(what: str, goal: float, shared: tuple[dict, dict], built: tuple[dict, dict],
              kept: tuple[dict, dict] | None = None) -> list[Row]:
    """The page built on every request (goal) and its p99, the copy kept for that caller (decision 0036), then
    the copy visitors share."""
    (ours, bare), (ours_built, bare_built) = shared, built
    ratio = ours_built["p50"] / bare_built["p50"]
    kept_rows = [] if kept is None else [
        Row(FIGURE, f"{what} kept for the caller p50", kept[0]["p50"], kept[1]["p50"], "ms",
            kept[0]["p50"] / kept[1]["p50"], note="the same caller again: decision 0036, not the goal")]
    return [Row(FIGURE, f"{what} built p50", ours_built["p50"], bare_built["p50"], "ms", ratio,
                f"<= {goal:g}x bare", ratio <= goal, f"{ours_built['rate']:.0f} req/s vs {bare_built['rate']:.0f}"),
            Row(FIGURE, f"{what} built p99", ours_built["p99"], bare_built["p99"], "ms",
                ours_built["p99"] / bare_built["p99"]),
            *kept_rows,
            Row(FIGURE, f"{what} shared copy p50", ours["p50"], bare["p50"], "ms", ours["p50"] / bare["p50"],
                f"<= {PAGE_GOAL:g}x bare", ours["p50"] / bare["p50"] <= PAGE_GOAL),
            Row(FIGURE, f"{what} shared copy p99", ours["p99"], bare["p99"], "ms", ours["p99"] / bare["p99"])]


def addresses(seeded: dict, n_images: int) -> list[tuple[str, str, float]]:
    """(what, path, goal): the visitors' pages, the searches and the API's lists, at this size."""
    last, collections = seeded["last_image"], seeded["collections"]
    deep_page = min(10_000, n_images // PER_PAGE)
    offset = max(0, min(900_000, n_images - 100))
    deep_collection = max(0, len(collections) - 100)
    return [
        ("image page", f"/images/{(seeded['first_image'] + last) // 2}", PAGE_GOAL),
        ("collection page", f"/collections/{collections[len(collections) // 2]}", PAGE_GOAL),
        ("/images/ page 1", "/images/", PAGE_GOAL),
        (f"/images/ page {deep_page:,}", f"/images/?after={last - PER_PAGE * (deep_page - 1) + 1}&page={deep_page}",
         PAGE_GOAL),
        ("/collections/", "/collections/", PAGE_GOAL),
        ("search, a word", "/images/?q=amygdala", SEARCH_GOAL),
        ("search, inside a name", "/images/?q=ippoc", SEARCH_GOAL),
        ("/api/images/?limit=100", "/api/images/?limit=100", API_GOAL),
        (f"/api/images/?offset={offset:,}&limit=100", f"/api/images/?offset={offset}&limit=100", API_GOAL),
        (f"/api/collections/?offset={deep_collection:,}&limit=100",
         f"/api/collections/?offset={deep_collection}&limit=100", API_GOAL),
    ]


def chosen(all_addresses: list[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
    """The addresses whose name contains one of BENCH_PAGES_ONLY's comma-separated parts (all when unset)."""
    parts = [part.strip() for part in os.environ.get("BENCH_PAGES_ONLY", "").split(",") if part.strip()]
    return [address for address in all_addresses if not parts or any(part in address[0] for part in parts)]


@contextlib.contextmanager
def uploads_arriving(site, seeded: dict, per_second: float, image_id: int):
    """New maps (an ORM insert and commit each, as an upload makes) into collections other than the image's,
    while the block runs."""
    from webapp.extensions import db
    from webapp.models import Collection, Image

    with site.app.app_context():
        shown = db.session.get(Image, image_id).collection_id
        db.session.remove()
    others = [collection for collection in seeded["collections"][-101:] if collection != shown][:100]
    stop = threading.Event()

    def upload():
        with site.app.app_context():
            for n in itertools.count():
                if stop.wait(1 / per_second):
                    break
                image = Image(collection_id=others[n % len(others)], uploader_id=seeded["owner"],
                              name=f"arriving {n}", storage_key=f"arriving/{uuid.uuid4().hex}", sha256="0" * 64)
                db.session.add(image)
                db.session.flush()
                db.session.get(Collection, image.collection_id).refresh_image_count()
                db.session.commit()
            db.session.remove()

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def run() -> list[Row]:
    if shutil.which("wrk") is None:
        return [Row(FIGURE, "pages", None, note="wrk is not installed (make bench installs it with apt-get)")]
    from bench.copyseed import copy_seed
    from tests.live import free_port

    small = quick()
    seconds = int(os.environ.get("BENCH_SECONDS", 2 if small else 5))
    n_images = int(os.environ.get("BENCH_IMAGES", 20_000 if small else 1_000_000))
    n_collections = int(os.environ.get("BENCH_COLLECTIONS", max(n_images // 50, 1)))
    rows, built = [], {}
    with live_site("redis", workers=0) as site:
        bare = BareSite(free_port())
        caller = {"Authorization": f"Token {site.token_for(site.create_user('caller@example.org'))}"}
        signed_in = {**caller, "Cache-Control": "no-cache"}  # built: no copy kept for this caller is sent
        try:
            seeded = copy_seed(site.app, n_images, n_collections)
            rows.append(Row(FIGURE, f"seeding {n_images:,} images in {n_collections:,} collections (COPY)",
                            seeded["seed_seconds"], unit="s", note=f"COPY {seeded['copy_seconds']:.0f} s"))
            floor, floor_bare = compare(site, bare, "/healthz", seconds)
            rows.append(Row(FIGURE, "site floor: /healthz (one SELECT 1 through every hook) p50", floor["p50"],
                            floor_bare["p50"], "ms", floor["p50"] / floor_bare["p50"],
                            note="what any route of the site costs"))
            for what, path, goal in chosen(addresses(seeded, n_images)):
                try:
                    built[what] = compare(site, bare, path, seconds, signed_in)
                    kept = None if path.startswith("/api/") else compare(site, bare, path, seconds, caller)
                    rows += page_rows(f"{what} ({n_images:,} images)", goal, compare(site, bare, path, seconds),
                                      built[what], kept)
                except RuntimeError as exc:  # one address that fails (timeouts) must not hide the others
                    rows.append(Row(FIGURE, f"{what} ({n_images:,} images)", None, note=str(exc).splitlines()[0]))
            image_page = addresses(seeded, n_images)[0]
            if image_page in chosen([image_page]):
                with uploads_arriving(site, seeded, UPLOADS_PER_SECOND, int(image_page[1].rsplit("/", 1)[1])):
                    busy, busy_bare = compare(site, bare, image_page[1], seconds)
                ratio = busy["p50"] / busy_bare["p50"]
                rows.append(Row(FIGURE, f"image page, anonymous, {UPLOADS_PER_SECOND:g} uploads/s elsewhere, p50",
                                busy["p50"], busy_bare["p50"], "ms", ratio, f"<= {PAGE_GOAL:g}x bare",
                                ratio <= PAGE_GOAL))
        finally:
            bare.stop()
    rows += deep_vs_first(built, "/images/ page", "/images/ deep page vs page 1", SCALE_GOAL)
    rows += deep_vs_first(built, "/api/images/?", "/api/images/ deep offset vs offset 0", SCALE_GOAL)
    return rows


def deep_vs_first(built: dict, prefix: str, what: str, goal: float) -> list[Row]:
    """The deep page's built p50 against the first page's, when both were loaded (the first named first)."""
    pages = [page for page in built if page.startswith(prefix)]
    if len(pages) != 2:
        return []
    first, deep = (built[page][0] for page in pages)
    growth = deep["p50"] / first["p50"]
    return [Row(FIGURE, f"{what}, built p50", deep["p50"], first["p50"], "ms", growth, f"<= {goal:g}",
                growth <= goal)]
