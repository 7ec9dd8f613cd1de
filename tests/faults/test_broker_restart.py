"""Redis stops (losing every queued message) and comes back: every uploaded image still reaches a final state.

Uploads made while the broker is down answer 201 (the image stays ``uploaded``),
queued messages die with the broker, and the periodic sweep sends them all again.
"""

import hashlib
import shutil
import signal

import pytest

from tests.live import free_port
from tests.niftigen import small_map

from .redisproc import RedisProcess
from .sites import own_site, researcher, upload

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server program"),
]


def test_uploads_survive_a_broker_restart(tmp_path):
    redis = RedisProcess(free_port(), tmp_path / "redis").start()
    settings = {"STUCK_AFTER_SECONDS": "5", "SWEEP_INTERVAL_SECONDS": "2"}
    try:
        with own_site(tmp_path / "site", broker_url=redis.url, extra_env=settings, workers=0) as site:
            session, collection_id = researcher(site, "broker@example.org")
            files = [small_map(tmp_path / f"m{i}.nii.gz", seed=i).read_bytes() for i in range(6)]

            queued = [upload(site, session, collection_id, f"queued-{i}.nii.gz", data)
                      for i, data in enumerate(files[:3])]
            assert {entry["status"] for entry in queued} == {"queued"}

            redis.stop()
            during = [upload(site, session, collection_id, f"during-{i}.nii.gz", data)
                      for i, data in enumerate(files[3:])]
            assert {entry["status"] for entry in during} == {"uploaded"}
            worker = site.start_worker()

            redis.start()
            entries = queued + during
            final = [site.wait_for_final(entry["id"], seconds=120) for entry in entries]
            assert [image.status for image in final] == ["ready"] * len(entries), [i.error for i in final]
            assert [image.sha256 for image in final] == [hashlib.sha256(data).hexdigest() for data in files]
            assert worker.poll() is None
            site.kill_worker(worker, signal.SIGTERM)
    finally:
        redis.stop()
