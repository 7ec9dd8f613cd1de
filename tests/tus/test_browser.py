"""The upload page in a real Chromium: two files go up through tus, each bar reaches 100 %, the images appear.

The browser is the session's shared ``chromium`` fixture (``tests/conftest.py``, the ``CHROMIUM`` setting).
"""

import base64
import re
import time
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from tests.niftigen import mni_like_4d, mni_like_map
from webapp.extensions import db
from webapp.models import Collection, Upload, User

from .bigfile import big_4d_nifti

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def browser_researcher(live_site):
    """A logged-in requests session (its cookies go to the browser) and a collection to upload to."""
    email = live_site.create_user("tus-browser@example.org")
    session = live_site.login(email)
    with live_site.app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        collection = Collection(owner_id=user.id, name="Dropped here")
        db.session.add(collection)
        db.session.commit()
        ids = user.id, collection.id
        db.session.remove()
    return session, ids


def browser_context(browser, live_site, session):
    context = browser.new_context()
    context.set_default_timeout(60_000)
    host = urlsplit(live_site.url).hostname
    context.add_cookies([{"name": c.name, "value": c.value, "domain": host, "path": "/"} for c in session.cookies])
    return context


def drop_files(page, selector, files):
    """Drop files on an element the way a desktop drag does: a drop event carrying a DataTransfer."""
    payload = [{"name": path.name, "base64": base64.b64encode(path.read_bytes()).decode()} for path in files]
    transfer = page.evaluate_handle(
        """files => {
            const transfer = new DataTransfer()
            for (const f of files) {
                const text = atob(f.base64)
                const bytes = new Uint8Array(text.length)
                for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i)
                transfer.items.add(new File([bytes], f.name))
            }
            return transfer
        }""",
        payload,
    )
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_two_dropped_files_upload_through_tus_and_become_images(live_site, chromium, browser_researcher, tmp_path):
    session, (user_id, collection_id) = browser_researcher
    files = [mni_like_map(tmp_path / "motor.nii.gz"), mni_like_4d(tmp_path / "rest.nii", volumes=2)]
    page_url = f"{live_site.url}/collections/{collection_id}/upload"

    def scenario(browser):
        context = browser_context(browser, live_site, session)
        page = context.new_page()
        errors, tus_requests, tus_answers = [], [], []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda r: tus_requests.append(r.method) if "/api/uploads/" in r.url else None)
        page.on(
            "response",
            lambda r: tus_answers.append((r.request.method, r.status)) if "/api/uploads/" in r.url else None,
        )
        page.goto(page_url)
        page.wait_for_selector("form.upload-form[data-enhanced='true']")
        drop_files(page, ".dropzone", files)
        page.wait_for_selector("form.upload-form[data-done='true']")
        items = page.eval_on_selector_all(
            ".upload-item",
            """items => items.map(li => ({
                state: li.dataset.state,
                progress: li.querySelector('progress').value,
                name: li.querySelector('.upload-name').textContent,
                link: li.querySelector('a.upload-link') && li.querySelector('a.upload-link').href,
                status: li.querySelector('.upload-status').textContent,
            }))""",
        )
        links = [item["link"] for item in items]
        first_image = page.goto(links[0]) if links[0] else None
        context.close()
        return items, errors, tus_requests, tus_answers, first_image.status if first_image else None

    items, errors, tus_requests, tus_answers, first_image_status = scenario(chromium)

    assert not errors, errors
    assert sorted(item["name"] for item in items) == ["motor.nii.gz", "rest.nii"], items
    assert all(item["state"] == "done" and item["progress"] == 100 for item in items), items
    # tus-js-client retries a request the network dropped, so a loaded machine may show a POST twice;
    # what must hold is that each file was created and sent through tus and the server never failed.
    assert tus_requests.count("POST") >= 2 and "PATCH" in tus_requests, tus_requests
    assert [status for method, status in tus_answers if method == "POST"].count(201) == 2, tus_answers
    assert not [answer for answer in tus_answers if answer[1] >= 500], (tus_answers, live_site.web_errors()[-3:])
    image_ids = [int(re.search(r"/images/(\d+)$", item["link"]).group(1)) for item in items]
    assert first_image_status == 200
    for image_id in image_ids:
        image = live_site.wait_for_final(image_id)
        assert image.status == "ready", image.error
        assert image.collection_id == collection_id and image.uploader_id == user_id
    with live_site.app.app_context():
        uploads = db.session.scalars(sa.select(Upload).where(Upload.user_id == user_id)).all()
        assert sorted(u.image_id for u in uploads if u.image_id is not None) == sorted(image_ids)
        db.session.remove()


def upload_offset(session, url):
    answer = session.head(url, headers={"Tus-Resumable": "1.0.0"}, timeout=10)
    return int(answer.headers.get("Upload-Offset", -1))


def test_an_upload_continues_after_the_page_is_reloaded(live_site, chromium, browser_researcher, tmp_path):
    """Reload mid-upload, choose the same file again: it continues from the server's offset, same upload.

    The upload is throttled to 4 MiB/s (Chrome DevTools network emulation) so the reload
    lands mid-way; tus-js-client finds the upload again by the file's fingerprint.
    """
    session, (user_id, collection_id) = browser_researcher
    path, size, sha256 = big_4d_nifti(tmp_path / "long.nii", 16 * MiB)
    page_url = f"{live_site.url}/collections/{collection_id}/upload"

    def scenario(browser):
        context = browser_context(browser, live_site, session)
        page = context.new_page()
        posts, patch_offsets = [], []
        page.on(
            "request", lambda r: patch_offsets.append(r.headers.get("upload-offset")) if r.method == "PATCH" else None
        )
        page.on(
            "response",
            lambda r: (
                posts.append(r.headers.get("location"))
                if r.request.method == "POST" and "/api/uploads/" in r.url
                else None
            ),
        )
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 4 * MiB},
        )
        page.goto(page_url)
        page.wait_for_selector("form.upload-form[data-enhanced='true']")
        page.set_input_files("input[type=file]", str(path))
        page.wait_for_function("() => !!document.querySelector('.upload-item')")
        deadline = time.monotonic() + 60
        while not posts and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        upload_url = live_site.url + posts[0]
        while upload_offset(session, upload_url) < 5 * MiB and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        page.reload()
        page.wait_for_selector("form.upload-form[data-enhanced='true']")
        offset_before_resume = upload_offset(session, upload_url)
        resumed_from = len(patch_offsets)
        page.set_input_files("input[type=file]", str(path))
        page.wait_for_selector("form.upload-form[data-done='true']")
        item = page.eval_on_selector(
            ".upload-item",
            "li => ({state: li.dataset.state, link: (li.querySelector('a.upload-link') || {}).href})",
        )
        context.close()
        return posts, patch_offsets[resumed_from:], offset_before_resume, item

    posts, resumed_offsets, offset_before_resume, item = scenario(chromium)

    assert len(posts) == 1, f"the reload made a new upload instead of resuming: {posts}"
    assert 0 < offset_before_resume < size
    assert resumed_offsets and int(resumed_offsets[0]) == offset_before_resume
    assert item["state"] == "done" and item["link"], item
    image = live_site.wait_for_final(int(re.search(r"/images/(\d+)$", item["link"]).group(1)))
    assert image.status == "ready", image.error
    assert image.sha256 == sha256 and image.uploader_id == user_id
