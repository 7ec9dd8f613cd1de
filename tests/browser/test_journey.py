"""A researcher and a visitor in a real browser: sign up, confirm, upload, watch it turn ready, use the viewer, search.

One long test on purpose: each step needs the state the previous one made, and the live site
(web server + worker) is shared with the other end-to-end tests.
"""

import base64
import io
import re
import uuid

import pytest
from PIL import Image as PILImage
from PIL import ImageStat

from tests.live import PASSWORD
from tests.niftigen import mni_like_map

from .viewports import PHONE

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

LOCATION = re.compile(r"^(-?\d+\.\d), (-?\d+\.\d), (-?\d+\.\d) mm = (\S+)$")
DROP_FILE = """
async ({ name, data }) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0))
  const file = new File([bytes], name, { type: 'application/gzip' })
  const transfer = new DataTransfer()
  transfer.items.add(file)
  const zone = document.querySelector('.dropzone')
  const fire = (type) => zone.dispatchEvent(
    new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }))
  fire('dragenter')
  fire('dragover')
  const highlighted = zone.classList.contains('is-dragover')
  fire('drop')
  return highlighted
}
"""


def sign_up_and_confirm(page, live_site, email):
    page.goto(live_site.url + "/")
    page.get_by_role("link", name="Sign up").first.click()
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    page.click("#submit")
    [message] = live_site.wait_for_email(lambda m: m["To"] == email)
    body = message.get_body(preferencelist=("plain", "html")).get_content()
    link = re.search(r"https?://\S+/accounts/confirm/[^\s\"'<>]+", body).group(0)
    page.goto(link)
    if page.locator("form #password").count():
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.click("#submit")
    page.wait_for_selector("nav >> text=Log out")


def create_collection(page, live_site, name, private=False, **fields):
    page.goto(live_site.url + "/collections/new")
    page.fill("#name", name)
    for field, value in fields.items():
        page.fill(f"#{field}", value)
    if private:
        page.check("#private")
    page.click("main #submit")
    page.wait_for_url(re.compile(r"/collections/\d+$"))
    return int(re.search(r"/collections/(\d+)$", page.url).group(1))


def drop_file_and_wait_for_upload(page, path):
    """Drop the file on the drop zone; returns the image page link once its progress bar is full."""
    page.wait_for_load_state("load")  # the page's modules (upload.js and what it imports) have run by then
    highlighted = page.evaluate(DROP_FILE, {"name": path.name, "data": base64.b64encode(path.read_bytes()).decode()})
    assert highlighted, "the drop zone did not highlight while a file was dragged over it"
    item = page.locator(".upload-item").first
    item.locator("progress").wait_for()
    page.wait_for_selector(".upload-item[data-state=done]", timeout=60_000)
    assert item.locator("progress").evaluate("p => p.value") == 100
    link = item.locator("a.upload-link")
    link.wait_for()
    return link


# SwiftShader draws on the CPU: on a busy machine the page may get only a few frames a second, so these
# helpers avoid Playwright's actionability checks (which wait for animation frames) and poll on timers.


def canvas_picture(page):
    """What the viewer shows, as a Pillow image (a screenshot: WebGL's buffer may be cleared after drawing)."""
    box = page.locator(".nv-canvas-box").bounding_box()
    return PILImage.open(io.BytesIO(page.screenshot(clip=box, timeout=120_000))).convert("RGB")


def location_after_click(page, x_fraction, y_fraction):
    """Click the canvas at a point (fractions of its size) and return the parsed location line."""
    box = page.locator("canvas.nv-canvas").bounding_box()
    before = page.locator("output.nv-location").text_content()
    page.mouse.click(box["x"] + box["width"] * x_fraction, box["y"] + box["height"] * y_fraction)
    page.wait_for_function(
        "before => document.querySelector('output.nv-location').textContent !== before",
        arg=before, polling=200, timeout=60_000,
    )
    text = page.locator("output.nv-location").text_content().strip()
    match = LOCATION.match(text)
    assert match, f"unexpected location text: {text!r}"
    return text, match.groups()


def no_horizontal_scroll(page):
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.timeout(900)
def test_researcher_uploads_and_visitor_finds_the_map(live_site, new_page, screenshot, tmp_path):
    tag = uuid.uuid4().hex[:8]
    email = f"browser-{tag}@example.org"
    author = f"Grace Hopper {tag}"
    page = new_page()

    sign_up_and_confirm(page, live_site, email)
    collection_id = create_collection(
        page, live_site, f"Visual cortex {tag}", authors=author, doi=f"10.5555/browser.{tag}",
        description="Checkerboard > fixation",
    )
    secret_id = create_collection(page, live_site, f"Secret {tag}", private=True)

    page.goto(f"{live_site.url}/collections/{collection_id}")
    page.get_by_role("link", name="Upload maps").click()
    page.wait_for_selector(".dropzone")
    path = mni_like_map(tmp_path / f"checkerboard_{tag}.nii.gz")
    link = drop_file_and_wait_for_upload(page, path)
    screenshot(page, "upload")
    link.click()

    # The image page polls its status and reloads itself once the worker is done.
    page.wait_for_url(re.compile(r"/images/\d+$"))
    image_id = int(re.search(r"/images/(\d+)$", page.url).group(1))
    page.wait_for_selector("h1 .badge[data-status=ready]", timeout=180_000)
    # The viewer: both volumes load (the page is busy until then), the canvas shows a picture,
    # and the crosshair reports values.
    page.wait_for_selector(".nv-viewer[data-ready=true]", timeout=90_000)
    assert page.locator(".nv-viewer").get_attribute("data-error") is None
    thumbs = page.locator(".thumbs img")
    assert thumbs.count() >= 2
    for i in range(thumbs.count()):
        assert thumbs.nth(i).evaluate("img => img.complete && img.naturalWidth > 0"), f"thumbnail {i} did not load"
        assert thumbs.nth(i).get_attribute("alt")

    for control in ("input.nv-threshold", "select.nv-colormap", "select.nv-view"):
        assert page.locator(control).is_visible(), control
    page.locator(".nv-viewer").evaluate("section => section.scrollIntoView()")
    picture = canvas_picture(page)
    spread = ImageStat.Stat(picture).stddev
    colours = len(picture.getcolors(maxcolors=1 << 16) or range(1 << 16))
    assert max(spread) > 20 and colours > 50, f"the viewer's canvas looks blank: stddev {spread}, {colours} colours"
    screenshot(page, "viewer", clip=page.locator(".nv-viewer").bounding_box())

    first_text, first = location_after_click(page, 0.16, 0.30)
    second_text, second = location_after_click(page, 0.30, 0.62)
    assert first[:3] != second[:3], (first_text, second_text)
    assert first[3] != second[3], f"the value did not change: {first_text} / {second_text}"

    page.locator("select.nv-colormap").select_option("gray", force=True)
    assert ImageStat.Stat(canvas_picture(page)).mean != ImageStat.Stat(picture).mean
    page.locator("select.nv-colormap").select_option("warm", force=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    screenshot(page, "image", full_page=True)
    assert page.errors == [], page.errors

    page.goto(f"{live_site.url}/collections/{collection_id}")
    page.wait_for_selector(f".image-card[data-image-id='{image_id}'] .badge[data-status=ready]")
    screenshot(page, "collection", full_page=True)

    page.get_by_role("button", name="Log out").click()
    page.wait_for_selector("nav >> text=Log in")

    # A visitor (a fresh browser, no cookies) finds the map by its collection's author, and never the private one.
    visitor = new_page()
    visitor.goto(live_site.url + "/")
    screenshot(visitor, "home")
    visitor.fill("#home-q", author)
    visitor.press("#home-q", "Enter")
    visitor.wait_for_url(re.compile(r"/images/\?"))
    card = visitor.locator(f".image-card[data-image-id='{image_id}']")
    assert card.count() == 1
    assert card.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    screenshot(visitor, "search", full_page=True)
    card.locator("a.card-link").click()
    visitor.wait_for_url(re.compile(rf"/images/{image_id}$"))
    assert visitor.locator(".nv-viewer").count() == 1

    visitor.goto(f"{live_site.url}/collections/?q=Secret+{tag}")
    assert visitor.locator("[data-total]").get_attribute("data-total") == "0"
    answer = visitor.goto(f"{live_site.url}/collections/{secret_id}")
    assert answer.status == 404
    assert visitor.locator(".error-page h1").text_content().strip() == "Not found"
    screenshot(visitor, "not-found")
    visitor.goto(f"{live_site.url}/collections/")
    screenshot(visitor, "collections", full_page=True)
    assert visitor.errors == [], visitor.errors

    # The same pages on a phone: nothing is wider than the screen.
    phone = new_page(PHONE)
    for url in ("/images/", "/collections/", f"/collections/{collection_id}", f"/images/{image_id}", "/"):
        phone.goto(live_site.url + url)
        assert no_horizontal_scroll(phone), f"{url} scrolls sideways on a phone"
    screenshot(phone, "home-phone", full_page=True)
