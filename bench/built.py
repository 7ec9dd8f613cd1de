"""Pages built in process: the median time of ``app.test_client().get(url)`` with the page cache bypassed.

Not a figure of ``make bench``: a steadier comparison than wrk on a shared machine, for before/after
work on one page (docs/performance.md, issue 19). Besides the wall time it prints the CPU time per
request (``time.process_time``, which the other sessions' load moves less) and the round trips to
PostgreSQL per request (psycopg's waits for an answer). The database must exist and hold data (``--seed N``
fills an empty one with tests/visitors/seed.py); the bare route is bench.hello's, in the same process::

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/pages python -m bench.built --seed 100000
    DATABASE_URL=... python -m bench.built /images/ /images/?q=amygdala
    DATABASE_URL=... python -m bench.built --no-cache /images/?q=amygdala   # built every time, as figure 4's rows
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

ROUND_TRIPS = [0]


def count_round_trips():
    """Count psycopg's waits for the server (one per round trip) in ``ROUND_TRIPS``."""
    import psycopg

    wait = psycopg.Connection.wait

    def counted(self, *args, **kwargs):
        ROUND_TRIPS[0] += 1
        return wait(self, *args, **kwargs)

    psycopg.Connection.wait = counted


def median_get(client, url: str, repeats: int) -> tuple[float, float, float]:
    """(median wall time, mean CPU time, mean round trips) of one request."""
    for _ in range(5):
        client.get(url)
    times, ROUND_TRIPS[0] = [], 0
    cpu = time.process_time()
    for _ in range(repeats):
        started = time.perf_counter()
        answer = client.get(url)
        times.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise RuntimeError(f"{url}: {answer.status_code}")
    return statistics.median(times), (time.process_time() - cpu) / repeats, ROUND_TRIPS[0] / repeats


def seed(n_images: int) -> None:
    import sqlalchemy as sa

    from tests.visitors.seed import seed_collections, seed_images, seed_user
    from webapp.extensions import db

    db.drop_all()
    db.create_all()
    owner = seed_user()
    collections = seed_collections(owner, max(n_images // 50, 1))
    for start in range(0, n_images, 10_000):
        seed_images(collections, min(10_000, n_images - start), owner)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


BENCH_USER, BENCH_PASSWORD = "bench-signed-in@example.org", "correct horse battery"


def log_in(app, client) -> None:
    """Sign the client in through the login form, as a browser would (the user made, or its password reset)."""
    import re

    from flask_security import hash_password

    from webapp.extensions import db
    from webapp.models import User, utcnow

    with app.app_context():
        user = db.session.query(User).filter_by(email=BENCH_USER).one_or_none()
        if user is None:
            app.extensions["security"].datastore.create_user(email=BENCH_USER, password=hash_password(BENCH_PASSWORD),
                                                             confirmed_at=utcnow())
        else:
            user.password = hash_password(BENCH_PASSWORD)  # the password's salt comes with each instance folder
        db.session.commit()
    form = client.get("/accounts/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    answer = client.post("/accounts/login", data={"email": BENCH_USER, "password": BENCH_PASSWORD, "csrf_token": token})
    if answer.status_code != 302:
        raise RuntimeError(f"could not log in: {answer.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("urls", nargs="*", default=["/healthz", "/images/", "/collections/"])
    parser.add_argument("--seed", type=int, metavar="N", help="empty the database and seed N images first")
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--token", help="an API token to send (a signed-in researcher's requests)")
    parser.add_argument("--signed-in", action="store_true", help="log in through the form first (a browser session)")
    parser.add_argument("--no-cache", action="store_true",
                        help="send Cache-Control: no-cache (figure 4's built rows: no copy kept for the caller)")
    args = parser.parse_args()
    os.environ.setdefault("PAGE_CACHE_URL", "memory://")
    from bench.hello import app as bare
    from webapp import create_app, pagecache
    from webapp.config import TestConfig

    pagecache.is_shareable_request = lambda: False  # every request builds its page, as for a signed-in visitor
    app = create_app(TestConfig())
    if args.seed:
        with app.app_context():
            seed(args.seed)
    count_round_trips()
    floor, floor_cpu, _ = median_get(bare.test_client(), "/", args.repeats * 5)
    print(f"bare route: {floor * 1e3:.3f} ms, CPU {floor_cpu * 1e3:.3f} ms")
    client = app.test_client()
    headers = {"Authorization": f"Token {args.token}"} if args.token else {}
    if args.no_cache:
        headers["Cache-Control"] = "no-cache"
    client.environ_base.update({f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()})
    if args.signed_in:
        log_in(app, client)
    for url in args.urls:
        built, cpu, trips = median_get(client, url, args.repeats)
        print(f"{url:40s} {built * 1e3:8.2f} ms {built / floor:7.1f}x   CPU {cpu * 1e3:7.2f} ms {cpu / floor_cpu:7.1f}x"
              f"   round trips {trips:.1f}")


if __name__ == "__main__":
    main()
