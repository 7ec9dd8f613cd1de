"""/metrics on the live site (gunicorn + a Celery worker): the worker's numbers arrive through the shared folder."""

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.niftigen import mni_like_map

pytestmark = pytest.mark.e2e


def samples(url):
    answer = requests.get(url + "/metrics", timeout=30)
    assert answer.status_code == 200
    found = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            found[key] = found.get(key, 0) + sample.value
    return found


def total(found, name, **labels):
    return sum(v for (n, ls), v in found.items() if n == name and all(dict(ls).get(k) == w for k, w in labels.items()))


def test_web_and_worker_metrics_in_one_scrape(live_site, tmp_path):
    email = live_site.create_user("metrics-owner@example.org")
    token = live_site.token_for(email)
    headers = {"Authorization": f"Token {token}"}
    collection = requests.post(live_site.url + "/api/collections/", json={"name": "Metrics"}, headers=headers,
                               timeout=30).json()
    before = samples(live_site.url)
    nifti = mni_like_map(tmp_path / "m.nii.gz", voxel_mm=8.0).read_bytes()
    answer = requests.post(f"{live_site.url}/api/collections/{collection['id']}/images/", headers=headers,
                           files={"file": ("m.nii.gz", nifti)}, data={"name": "m"}, timeout=60)
    assert answer.status_code == 201, answer.text
    assert live_site.wait_for_final(answer.json()["id"]).status == "ready"
    after = samples(live_site.url)

    assert total(after, "neurodrop_uploads_total") == total(before, "neurodrop_uploads_total") + 1
    assert total(after, "neurodrop_upload_bytes_total") == total(before, "neurodrop_upload_bytes_total") + len(nifti)
    processed = "neurodrop_processing_duration_seconds_count"
    assert total(after, processed, kind="3D", status="ready") == total(before, processed, kind="3D", status="ready") + 1
    reached = "neurodrop_images_reached_status_total"
    assert total(after, reached, status="ready") == total(before, reached, status="ready") + 1
    assert total(after, "neurodrop_http_requests_total", endpoint="api.collection_images", status="201") >= 1


def test_the_dashboard_names_the_running_worker_on_either_broker(live_site):
    """Redis workers answer a broadcast ping; the embedded SQL broker cannot carry one, so there the worker's
    heartbeat in the shared cache names it (the dashboard once said "unknown" on every embedded site)."""
    import re
    import socket
    import time

    email = live_site.create_user("dashboard-admin@example.org", admin=True)
    session = live_site.login(email)
    expected = f"-{live_site.port}@{socket.gethostname()}"
    deadline = time.monotonic() + 60
    while True:
        page = session.get(live_site.url + "/admin/", timeout=30).text
        cell = re.search(r'<td id="workers">(.*?)</td>', page, re.S).group(1)
        if expected in cell or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert expected in cell, cell
