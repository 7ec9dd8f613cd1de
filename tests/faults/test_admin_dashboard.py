"""The admin dashboard against a real Redis and real workers: queue depth, workers alive, and a broker outage."""

import re
import shutil

import pytest

from tests.live import free_port
from tests.niftigen import small_map

from .redisproc import RedisProcess
from .sites import own_site, researcher, upload, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server program"),
]


def board(site, session):
    """(messages waiting in the site's queue, the workers cell) as the dashboard shows them."""
    page = session.get(site.url + "/admin/", timeout=60)
    assert page.status_code == 200
    depth = re.search(r"Queue “[^”]+”</th><td>([^<]+)</td>", page.text).group(1)
    workers = re.search(r'<td id="workers">([^<]*)</td>', page.text).group(1)
    return depth, workers


def test_dashboard_sees_the_queue_and_the_workers(tmp_path):
    redis = RedisProcess(free_port(), tmp_path / "redis").start()
    try:
        with own_site(tmp_path / "site", broker_url=redis.url, workers=0, beat=False) as site:
            session, collection_id = researcher(site, "dash-owner@example.org")
            site.run_flask("accounts", "create", "dash-root@example.org", "--password", "pw-pw-pw-pw", "--admin")
            admin_session = site.login("dash-root@example.org", "pw-pw-pw-pw")
            for i in range(2):
                upload(site, session, collection_id, f"m{i}.nii.gz", small_map(tmp_path / f"m{i}.nii.gz", seed=i)
                       .read_bytes())
            assert board(site, admin_session) == ("2", "none answered")

            site.start_worker(beat=False, name="dashworker")
            seen = []

            def worker_done():
                seen.append(board(site, admin_session))
                depth, workers = seen[-1]
                return workers if depth == "0" and workers.startswith("1:") else None

            try:
                workers = wait_until(worker_done, 120, "the worker never emptied the queue and answered the ping")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; the dashboard said {seen[-3:]}") from None
            assert "dashworker@" in workers

            redis.stop()
            depth, workers = board(site, admin_session)
            assert depth.startswith("unknown") and workers.startswith("unknown")
    finally:
        redis.stop()
