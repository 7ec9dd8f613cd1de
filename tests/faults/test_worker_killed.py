"""``kill -9`` one of several workers in the middle of processing: the image still ends ``ready``, once."""

import signal
import time

import pytest

from tests.niftigen import mni_like_map

from .sites import emails_for, own_site, researcher, rows_of, start_beat, upload, wait_until

pytestmark = pytest.mark.e2e


def worker_that_received(site):
    """The worker process whose log says it took the processing task."""
    for worker in site.workers:
        hostname = next((arg for arg in worker.args if arg.startswith("--hostname=")), None)
        if hostname is None:
            continue
        log = site.folder / f"worker-{hostname.removeprefix('--hostname=').split('@')[0]}.log"
        if log.exists() and "webapp.processing.tasks.process_image[" in log.read_text(errors="replace"):
            return worker
    return None


def test_killed_worker_is_replaced_by_another(tmp_path, redis_broker):
    settings = {"STUCK_AFTER_SECONDS": "6", "SWEEP_INTERVAL_SECONDS": "2"}
    with own_site(tmp_path / "site", broker_url=redis_broker, extra_env=settings, workers=2, beat=False) as site:
        start_beat(site)
        session, collection_id = researcher(site, "killed@example.org")
        data = mni_like_map(tmp_path / "big.nii.gz", voxel_mm=1.0).read_bytes()
        entry = upload(site, session, collection_id, "kill-me.nii.gz", data)

        wait_until(lambda: site.image(entry["id"]).status == "processing", 60, "the image never started processing",
                   interval=0.05)
        busy = wait_until(lambda: worker_that_received(site), 10, "no worker log shows the task")
        survivors = [w for w in site.workers if w is not busy]
        site.kill_worker(busy, signal.SIGKILL)
        killed_at = time.monotonic()

        image = site.wait_for_final(entry["id"], seconds=120)
        assert image.status == "ready", image.error
        assert image.attempts >= 2, "the image was not processed again after the kill"
        assert all(w.poll() is None for w in survivors)
        wait_until(lambda: emails_for(site, entry["id"]), 60, "no email about the image")
        time.sleep(max(0.0, 8 - (time.monotonic() - killed_at)))
        assert len(emails_for(site, entry["id"])) == 1
        kinds, stats_rows = rows_of(site, entry["id"])
        assert {"glass_brain", "ortho"} <= set(kinds) and len(kinds) == len(set(kinds)) and stats_rows == 1
