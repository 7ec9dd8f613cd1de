"""Drop a zip on the upload page: the list of its members fills in as the worker unpacks and processes them."""

import base64
import re

import pytest

from tests import archives as build

from .test_journey import DROP_FILE

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_a_dropped_zip_lists_each_members_outcome(live_site, new_page, screenshot, tmp_path):
    email = live_site.create_user("browser-archive@example.org")
    page = new_page()
    page.goto(live_site.url + "/accounts/login")
    page.fill("#email", email)
    page.fill("#password", "a live passphrase")
    page.click("#submit")
    page.wait_for_selector("nav >> text=Log out")
    page.goto(live_site.url + "/collections/new")
    page.fill("#name", "Dropped study")
    page.click("main #submit")
    page.wait_for_url(re.compile(r"/collections/\d+$"))
    page.goto(page.url + "/upload")
    members = {**build.fsl_gfeat_tree(), "notes.txt": b"lab notes", "../escape.nii": b"x"}
    data = build.write_zip(tmp_path / "fsl.zip", members).read_bytes()
    page.evaluate(DROP_FILE, {"name": "fsl.zip", "data": base64.b64encode(data).decode()})
    page.wait_for_selector(".upload-item ul.batch-members[data-complete=true]", timeout=120_000)
    rows = page.locator(".batch-member")
    states = {rows.nth(i).locator(".batch-name").inner_text(): rows.nth(i).get_attribute("data-state")
              for i in range(rows.count())}
    assert states == {"group.gfeat/cope1.feat/stats/zstat1.nii.gz": "ready",
                      "group.gfeat/cope2.feat/stats/zstat1.nii.gz": "ready", "group.gfeat/report.html": "skipped",
                      "notes.txt": "skipped", "../escape.nii": "skipped"}
    reasons = page.locator(".batch-member[data-state=skipped] .batch-reason").all_inner_texts()
    assert any("outside the archive" in reason for reason in reasons)
    assert page.locator(".batch-member a").first.get_attribute("href").startswith(live_site.url + "/images/")
    assert page.locator(".upload-status").inner_text().startswith("done: 2 ready, 3 skipped")
    assert not page.errors
    screenshot(page, "upload-archive")
