"""The cluster table in a real browser: clicking a row moves the viewer's crosshair to the row's peak."""

import re
import uuid

import pytest
import requests

from tests.niftigen import make_nifti, mni_blobs_data

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

LOCATION = re.compile(r"^(-?\d+\.\d), (-?\d+\.\d), (-?\d+\.\d) mm = (\S+)$")
BLOBS = [((-24, -2, -14), 6.0), ((40, -18, 56), 5.0), ((-6, -20, 40), -5.5)]


def uploaded_z_map(live_site, tmp_path):
    """A processed public Z map with three clusters, uploaded through the API; returns its id."""
    token = live_site.token_for(live_site.create_user(f"clusters-{uuid.uuid4().hex[:6]}@example.org"))
    headers = {"Authorization": f"Bearer {token}"}
    collection = requests.post(f"{live_site.url}/api/collections/", json={"name": "Clusters"}, headers=headers,
                               timeout=30).json()
    data, affine = mni_blobs_data(BLOBS, brain=0.05)
    path = make_nifti(tmp_path / "three-blobs.nii.gz", data, affine)
    with open(path, "rb") as handle:
        answer = requests.post(f"{live_site.url}/api/collections/{collection['id']}/images/", headers=headers,
                               data={"map_type": "Z", "name": "three blobs"}, files={"file": handle}, timeout=60)
    assert answer.status_code == 201, answer.text[:300]
    image = live_site.wait_for_final(answer.json()["id"], seconds=180)
    assert image.status == "ready", image.error
    return image.id


def location(page):
    text = page.locator("output.nv-location").text_content().strip()
    match = LOCATION.match(text)
    return [float(v) for v in match.groups()[:3]] if match else None


@pytest.mark.timeout(600)
def test_clicking_a_cluster_row_moves_the_crosshair(live_site, new_page, tmp_path):
    image_id = uploaded_z_map(live_site, tmp_path)
    page = new_page()
    page.goto(f"{live_site.url}/images/{image_id}")
    page.wait_for_selector(".nv-viewer[data-ready=true]", timeout=120_000)
    rows = page.locator("tr.cluster-row")
    assert rows.count() >= 3
    for index in (1, 0):
        row = rows.nth(index)
        wanted = [float(v) for v in row.get_attribute("data-mm").split(",")]
        assert location(page) != wanted
        row.locator("td").first.dispatch_event("click")
        page.wait_for_function(
            "want => { const t = document.querySelector('output.nv-location').textContent;"
            " return t.startsWith(want) }",
            arg=", ".join(f"{v:.1f}" for v in wanted), polling=200, timeout=60_000,
        )
        assert location(page) == wanted
        assert "current" in row.get_attribute("class")
    assert page.errors == []
