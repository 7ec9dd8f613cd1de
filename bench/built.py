"""Pages built in process: the median time of ``app.test_client().get(url)`` with the page cache bypassed.

Not a figure of ``make bench``: a steadier comparison than wrk on a shared machine, for before/after
work on one page (docs/performance.md, issue 19). Besides the wall time it prints the CPU time per
request (``time.process_time``, which the other sessions' load moves less) and the round trips per
request to PostgreSQL (psycopg's exchanges with the server) and to Redis (commands or pipelines sent; with
``PAGE_CACHE_URL=redis://…``, else the page cache is in memory). The database must exist and hold data
(``--seed N`` fills an empty one with tests/visitors/seed.py); the bare route is bench.hello's, in the same
process::

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/pages python -m bench.built --seed 100000
    DATABASE_URL=... python -m bench.built /images/ /images/?q=amygdala
    DATABASE_URL=... python -m bench.built --no-cache /images/ (built: the copies kept per viewer bypassed)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

ROUND_TRIPS = [0]
REDIS_TRIPS = [0]


def count_round_trips():
    """Count the round trips to PostgreSQL (psycopg's exchanges with the server) in ``ROUND_TRIPS`` and to Redis
    (the commands or pipelines redis-py sends) in ``REDIS_TRIPS``."""
    import redis.connection

    from tests.helpers import count_postgres_round_trips

    count_postgres_round_trips(ROUND_TRIPS)
    send = redis.connection.AbstractConnection.send_packed_command

    def counted_send(self, *args, **kwargs):
        REDIS_TRIPS[0] += 1
        return send(self, *args, **kwargs)

    redis.connection.AbstractConnection.send_packed_command = counted_send


def median_get(client, url: str, repeats: int) -> tuple[float, float, float, float]:
    """(median wall time, mean CPU time, mean round trips to PostgreSQL, to Redis) of one request."""
    for _ in range(5):
        client.get(url)
    times, ROUND_TRIPS[0], REDIS_TRIPS[0] = [], 0, 0
    cpu = time.process_time()
    for _ in range(repeats):
        started = time.perf_counter()
        answer = client.get(url)
        times.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise RuntimeError(f"{url}: {answer.status_code}")
    cpu = (time.process_time() - cpu) / repeats
    return statistics.median(times), cpu, ROUND_TRIPS[0] / repeats, REDIS_TRIPS[0] / repeats


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
                        help="send Cache-Control: no-cache, as figure 4's built rows do (no copy kept per viewer)")
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
    floor, floor_cpu, _, _ = median_get(bare.test_client(), "/", args.repeats * 5)
    print(f"bare route: {floor * 1e3:.3f} ms, CPU {floor_cpu * 1e3:.3f} ms")
    client = app.test_client()
    headers = {"Authorization": f"Token {args.token}"} if args.token else {}
    if args.no_cache:
        headers["Cache-Control"] = "no-cache"
    client.environ_base.update({f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()})
    if args.signed_in:
        log_in(app, client)
    for url in args.urls:
        built, cpu, trips, redis_trips = median_get(client, url, args.repeats)
        print(f"{url:40s} {built * 1e3:8.2f} ms {built / floor:7.1f}x   CPU {cpu * 1e3:7.2f} ms {cpu / floor_cpu:7.1f}x"
              f"   round trips {trips:.1f} + Redis {redis_trips:.1f}")


if __name__ == "__main__":
    main()
