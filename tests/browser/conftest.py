"""A real Chromium driven by Playwright, against the shared live site (gunicorn + Celery worker).

Debian's ``/usr/bin/chromium`` (``make browser`` installs it where apt can) runs headless with
SwiftShader for WebGL2, so the viewer really draws. Without Chromium or Playwright the tests skip
and say why. Screenshots of the main pages go to ``test-artifacts/screenshots/`` (kept by CI).
"""

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def chromium():
    """One browser process for the run; skips when it cannot start here."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (Python) is not installed")
    executable = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if executable is None:
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's `chromium` (make browser) or set CHROMIUM")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium):
    """Make pages in fresh browser contexts (separate cookies), closed after the test."""
    contexts = []

    def make(viewport=DESKTOP):
        context = chromium.new_context(viewport=viewport)
        context.set_default_timeout(90_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screenshot():
    """Save a screenshot of a page (or of one element) under test-artifacts/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name, full_page=False, clip=None):
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page, clip=clip, timeout=120_000)
        return path

    return take
