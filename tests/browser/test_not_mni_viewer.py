"""A map that is not in MNI space opens in the viewer alone (no MNI template layer, the page says why);
the link to the slice at the crosshair follows the viewer and gives a picture."""

import re

import numpy as np
import pytest

from tests.niftigen import make_nifti

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def not_mni_map(path):
    """A smooth map on a grid far from the MNI brain (coverage 0), so the worker marks it not_mni."""
    ijk = np.indices((24, 24, 20), dtype=np.float32)
    data = np.exp(-((ijk[0] - 12) ** 2 + (ijk[1] - 12) ** 2 + (ijk[2] - 10) ** 2) / 40.0) * 6
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[:3, 3] = [400.0, 400.0, 400.0]
    return make_nifti(path, data.astype(np.float32), affine)


def test_not_mni_map_viewer_has_no_template_layer(live_site, new_page, tmp_path, screenshot):
    email = live_site.create_user("not-mni@example.org")
    session = live_site.login(email)
    page_url = live_site.url + "/collections/new"
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', session.get(page_url).text).group(1)
    answer = session.post(page_url, data={"name": "Native space", "csrf_token": token}, allow_redirects=False)
    collection_id = int(re.search(r"/collections/(\d+)", answer.headers["Location"]).group(1))
    upload_url = f"{live_site.url}/collections/{collection_id}/upload"
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', session.get(upload_url).text).group(1)
    path = not_mni_map(tmp_path / "native.nii.gz")
    answer = session.post(upload_url, data={"csrf_token": token},
                          files=[("file", ("native.nii.gz", path.read_bytes(), "application/octet-stream"))],
                          headers={"Accept": "application/json"})
    assert answer.status_code == 201, answer.text
    image_id = answer.json()["images"][0]["id"]
    image = live_site.wait_for_final(image_id)
    assert image.status == "ready" and image.not_mni, image.error

    page = new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{live_site.url}/images/{image_id}")
    assert "This map is not in MNI space" in page.locator(".not-mni-note").inner_text()
    page.wait_for_selector(".nv-viewer[data-ready=true]", timeout=90_000)
    viewer = page.locator(".nv-viewer")
    assert viewer.get_attribute("data-error") is None and viewer.get_attribute("data-template-url") is None
    names = viewer.evaluate("section => section.neurodropViewer.nv.volumes.map((v) => v.name)")
    assert len(names) == 1 and "mni" not in names[0].lower()
    assert not [url for url in requested if "template" in url or "mni152" in url.lower()]
    box = page.locator(".nv-canvas").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.wait_for_function("() => document.querySelector('input.slice-link-url').value.includes('axis=')")
    link = page.locator("input.slice-link-url").input_value()
    assert re.search(rf"/images/{image_id}/slices\.png\?axis=z&mm=-?\d+\.\d$", link), link
    picture = session.get(link)
    assert picture.status_code == 200 and picture.content[:4] == b"\x89PNG"
    assert not page.errors
    screenshot(page, "viewer-not-mni", clip=viewer.bounding_box())
