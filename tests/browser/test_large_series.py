"""The page of a series larger than the viewer's budget: it loads within the budget, and the slider draws a
later volume by fetching that volume alone."""

import re

import numpy as np
import pytest
import requests

from tests import niftigen as gen
from tests.live import LiveSite

BUDGET = 2 * 2**20
VOLUMES = 60


@pytest.fixture(scope="module")
def budget_site(tmp_path_factory):
    site = LiveSite(tmp_path_factory.mktemp("viewer-budget"), extra_env={"VIEWER_BUDGET_BYTES": str(BUDGET)})
    site.start()
    yield site
    site.stop()


def uploaded_series(site, tmp_path):
    data, affine = gen.mni_like_data(4.0)
    path = gen.write_long_series(tmp_path / "bold.nii.gz", data.shape, VOLUMES,
                                 lambda t: data * (1 + t / 10), affine, dtype=np.float32)
    assert data.nbytes * VOLUMES > 10 * BUDGET
    email = site.create_user("viewer-budget@example.org")
    headers = {"Authorization": f"Token {site.token_for(email)}"}
    collection = requests.post(f"{site.url}/api/collections/", headers=headers, data={"name": "Budget"}, timeout=60)
    with open(path, "rb") as handle:
        image = requests.post(f"{site.url}/api/collections/{collection.json()['id']}/images/", headers=headers,
                              data={"name": "bold"}, files={"file": ("bold.nii.gz", handle)}, timeout=120)
    assert image.status_code == 201, image.text
    final = site.wait_for_final(image.json()["id"], seconds=180)
    assert final.status == "ready", final.error
    return final.id


@pytest.mark.timeout(600)
def test_the_series_page_stays_within_the_budget_and_the_slider_fetches_one_volume(budget_site, new_page,
                                                                                   tmp_path):
    image_id = uploaded_series(budget_site, tmp_path)
    page = new_page()
    fetched = []
    page.on("requestfinished", lambda request: fetched.append((request.url, request.sizes()["responseBodySize"])))
    page.goto(f"{budget_site.url}/images/{image_id}")
    page.wait_for_selector(".nv-viewer[data-ready=true]", timeout=180_000)
    assert page.locator(".nv-viewer").get_attribute("data-error") is None

    own = [(url, size) for url, size in fetched if not re.search(r"/(static|template)/", url)]
    assert not any(url.endswith(f"/images/{image_id}/file") for url, _ in own), own
    assert sum(size for _, size in own) <= BUDGET, own

    last = VOLUMES - 1
    page.locator("input.nv-volume").evaluate(
        "(input, last) => { input.value = String(last); input.dispatchEvent(new Event('input')) }", last)
    page.wait_for_selector(f".nv-viewer[data-shown-volume='{last}']", timeout=120_000)
    assert page.locator(".nv-viewer").get_attribute("data-error") is None
    volumes = [url for url, _ in fetched if "/volumes/" in url]
    assert volumes == [f"{budget_site.url}/images/{image_id}/volumes/{last}.nii"]  # inflated from an access point
    assert page.locator("output.nv-volume-value").text_content() == f"{VOLUMES} / {VOLUMES}"
    assert not page.errors, page.errors
