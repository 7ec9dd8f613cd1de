"""In a real Chromium, the strict Content-Security-Policy lets the viewer, the upload page and the
status poller work, and the browser reports no violation on any page (the policy is only useful
if nothing legitimate needs an exception)."""

import re

import pytest

from tests.live import csrf_of
from tests.niftigen import mni_like_map

pytestmark = pytest.mark.e2e

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`));
"""


@pytest.fixture
def browser(chromium):
    """The run's shared Chromium (tests/conftest.py)."""
    return chromium


@pytest.fixture(scope="module")
def ready_image(live_site, tmp_path_factory):
    """(logged-in requests session, collection id, image id) of a processed map in a private collection."""
    email = live_site.create_user("csp-viewer@example.org")
    session = live_site.login(email)
    answer = session.post(live_site.url + "/collections/new", allow_redirects=False,
                          data={"name": "CSP", "private": "y", "csrf_token": csrf_of(session, live_site.url + "/")})
    collection_id = int(re.search(r"/collections/(\d+)", answer.headers["Location"]).group(1))
    path = mni_like_map(tmp_path_factory.mktemp("csp") / "csp.nii.gz")
    url = f"{live_site.url}/collections/{collection_id}/upload"
    answer = session.post(url, data={"csrf_token": csrf_of(session, url)}, headers={"Accept": "application/json"},
                          files=[("file", ("csp.nii.gz", path.read_bytes(), "application/octet-stream"))])
    assert answer.status_code == 201, answer.text
    image_id = answer.json()["images"][0]["id"]
    assert live_site.wait_for_final(image_id).status == "ready"
    return session, collection_id, image_id


def logged_in_page(browser, live_site, session):
    context = browser.new_context()
    context.set_default_timeout(60_000)
    context.add_cookies([{"name": c.name, "value": c.value, "url": live_site.url} for c in session.cookies])
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.console_refusals = []
    page.on("console", lambda m: "Content Security Policy" in m.text and page.console_refusals.append(m.text))
    return page


def violations(page):
    return page.evaluate("window.__cspViolations") + page.console_refusals


def test_viewer_draws_under_the_policy(browser, live_site, ready_image):
    session, _, image_id = ready_image
    page = logged_in_page(browser, live_site, session)
    answer = page.goto(f"{live_site.url}/images/{image_id}")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    page.wait_for_selector('section.nv-viewer[data-ready="true"]')
    assert page.evaluate("window.neurodropViewer && window.neurodropViewer.ready") is True
    assert violations(page) == []
    page.context.close()


def test_pages_report_no_violation(browser, live_site, ready_image):
    session, collection_id, image_id = ready_image
    page = logged_in_page(browser, live_site, session)
    for path in ("/", "/collections/", f"/collections/{collection_id}", f"/collections/{collection_id}/upload",
                 "/images/", "/accounts/profile", "/accounts/tokens", "/api/docs", "/nope"):
        page.goto(live_site.url + path)
        page.wait_for_load_state("load")
        assert violations(page) == [], path
    page.context.close()


def test_an_injected_inline_script_is_blocked(browser, live_site, ready_image):
    """The policy itself works: a script element that got into the page would not run."""
    session, _, _ = ready_image
    page = logged_in_page(browser, live_site, session)
    page.goto(live_site.url + "/")
    page.evaluate("""() => {
        const s = document.createElement('script');
        s.textContent = 'window.__pwned = true';
        document.body.appendChild(s);
    }""")
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.evaluate("window.__pwned") is None
    assert any("script-src" in v for v in violations(page))
    page.context.close()
