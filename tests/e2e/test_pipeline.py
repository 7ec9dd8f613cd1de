"""End to end with a real web server and a real Celery worker: upload → worker → ready/failed → email → page."""

import signal
import time

import pytest
import requests

from tests.live import csrf_of, new_collection
from tests.niftigen import mni_like_map

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def researcher(live_site):
    email = live_site.create_user("e2e-researcher@example.org")
    session = live_site.login(email)
    return session, new_collection(live_site, session, "E2E maps")


def upload(live_site, session, collection_id, files):
    url = f"{live_site.url}/collections/{collection_id}/upload"
    token = csrf_of(session, url)
    parts = [("file", (name, data, "application/octet-stream")) for name, data in files]
    answer = session.post(url, data={"csrf_token": token}, files=parts, headers={"Accept": "application/json"})
    assert answer.status_code == 201, answer.text
    return answer.json()["images"]


def test_upload_reaches_ready_with_thumbnails_email_and_page(live_site, researcher, tmp_path):
    session, collection_id = researcher
    path = mni_like_map(tmp_path / "motor.nii.gz")
    [entry] = upload(live_site, session, collection_id, [("motor.nii.gz", path.read_bytes())])
    assert entry["status"] in ("queued", "processing", "ready")

    image = live_site.wait_for_final(entry["id"])
    assert image.status == "ready", image.error
    assert image.processing_at and image.ready_at and image.queued_at

    page = session.get(f"{live_site.url}/images/{entry['id']}").text
    assert "Glass brain" in page and "Statistics" in page and "Validation report" in page
    for kind in ("glass_brain", "ortho"):
        thumb = session.get(f"{live_site.url}/images/{entry['id']}/thumbnails/{kind}.png")
        assert thumb.status_code == 200 and thumb.content[:8] == b"\x89PNG\r\n\x1a\n"

    download = session.get(f"{live_site.url}/images/{entry['id']}/file")
    assert download.content == path.read_bytes() and "Content-Encoding" not in download.headers

    [message] = live_site.wait_for_email(lambda m: m["X-Neurodrop-Image"] == str(entry["id"]))
    assert message["To"] == "e2e-researcher@example.org" and "is ready" in message["Subject"]
    assert f"{live_site.url}/images/{entry['id']}" in message.get_body(("plain",)).get_content()


def test_broken_file_fails_with_reason_and_email(live_site, researcher, tmp_path):
    session, collection_id = researcher
    [entry] = upload(live_site, session, collection_id, [("broken.nii.gz", b"<html><body>not a map</body></html>")])
    image = live_site.wait_for_final(entry["id"])
    assert image.status == "failed"
    assert "HTML" in image.error
    page = session.get(f"{live_site.url}/images/{entry['id']}").text
    assert "Processing failed" in page and "Reprocess" in page
    [message] = live_site.wait_for_email(lambda m: m["X-Neurodrop-Image"] == str(entry["id"]))
    assert "could not be processed" in message["Subject"] and "HTML" in message.get_body(("plain",)).get_content()


def test_worker_killed_mid_task_still_reaches_a_final_state(live_site, researcher, tmp_path):
    """kill -9 the only worker while it processes; a restarted worker finishes the image, one email."""
    session, collection_id = researcher
    [worker] = live_site.workers
    path = mni_like_map(tmp_path / "big.nii.gz", voxel_mm=1.0)
    [entry] = upload(live_site, session, collection_id, [("kill-me.nii.gz", path.read_bytes())])
    deadline = time.monotonic() + 60
    while live_site.image(entry["id"]).status != "processing" and time.monotonic() < deadline:
        time.sleep(0.05)
    live_site.kill_worker(worker)
    live_site.start_worker()
    image = live_site.wait_for_final(entry["id"], seconds=180)
    assert image.status == "ready", image.error
    live_site.wait_for_email(lambda m: m["X-Neurodrop-Image"] == str(entry["id"]))
    time.sleep(3)
    emails = [m for m in live_site.outbox() if m["X-Neurodrop-Image"] == str(entry["id"])]
    assert len(emails) == 1


def test_an_anonymous_visitor_sees_the_worker_finish(live_site, researcher, tmp_path):
    """The visitors' page cache is shared with the worker process: the worker's commit makes a cached list stale.

    The worker is stopped while the image waits in the queue, so the visitor's cached list is
    certainly from before the worker's commit; the site's worker is started again afterwards.
    """
    session, collection_id = researcher
    visitor = requests.Session()
    listed = f"{live_site.url}/api/collections/{collection_id}/images/"
    for worker in list(live_site.workers):
        live_site.kill_worker(worker, signal.SIGTERM)
    try:
        path = mni_like_map(tmp_path / "visible.nii.gz")
        [entry] = upload(live_site, session, collection_id, [("visible.nii.gz", path.read_bytes())])
        waiting = {row["id"] for row in visitor.get(listed).json()["results"]}
        assert entry["id"] not in waiting and visitor.get(listed).headers["X-Page-Cache"] == "hit"
    finally:
        live_site.start_worker()
    assert live_site.wait_for_final(entry["id"]).status == "ready"
    assert {row["id"] for row in visitor.get(listed).json()["results"]} == waiting | {entry["id"]}
