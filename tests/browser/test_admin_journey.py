"""An administrator in a real browser: find a failed map in the admin area, reprocess it, see it ready."""

import re

import pytest

from tests.e2e.admin_setup import failed_image
from tests.live import PASSWORD
from tests.niftigen import mni_like_map

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def log_in(page, live_site, email):
    page.goto(live_site.url + "/accounts/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/$"))


def test_admin_finds_a_failed_map_reprocesses_it_and_sees_it_ready(live_site, new_page, screenshot, tmp_path):
    owner = live_site.create_user("journey-owner@example.org")
    admin = live_site.create_user("journey-admin@example.org", admin=True)
    nifti = mni_like_map(tmp_path / "rescued.nii.gz", voxel_mm=8.0).read_bytes()
    image_id = failed_image(live_site, owner, nifti)

    page = new_page()
    log_in(page, live_site, admin)
    page.get_by_role("link", name="Admin", exact=True).click()
    page.wait_for_url(re.compile(r".*/admin/$"))
    page.get_by_role("link", name="Failed images").first.click()
    row = page.locator(f'tr[data-image="{image_id}"]')
    assert "A temporary problem on our side" in row.inner_text()
    screenshot(page, "admin-failed-images", full_page=True)

    row.get_by_role("button", name="Reprocess").click()
    page.wait_for_url(re.compile(r".*/admin/images\?status=failed.*"))
    assert "sent to the workers again" in page.locator(".flashes").inner_text()

    live_site.wait_for_final(image_id)
    page.goto(f"{live_site.url}/admin/images?q=rescued")
    page.locator(f'tr[data-image="{image_id}"] td.status').filter(has_text="ready").wait_for()
    page.locator(f'tr[data-image="{image_id}"] a').first.click()
    page.wait_for_url(re.compile(rf".*/images/{image_id}$"))
    assert page.locator(".failure").count() == 0
    assert "Glass brain" in page.content()
    assert page.errors == []
