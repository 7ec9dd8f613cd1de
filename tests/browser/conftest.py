"""A real Chromium driven by Playwright, against the shared live site (gunicorn + Celery worker).

Debian's ``/usr/bin/chromium`` (``make browser`` installs it where apt can) runs headless with
SwiftShader for WebGL2, so the viewer really draws. Without Chromium or Playwright the tests skip
and say why (the ``chromium`` fixture, shared with other browser tests, is in ``tests/conftest.py``).
Screenshots of the main pages go to ``test-artifacts/screenshots/`` (kept by CI)."""

import pytest

from .viewports import DESKTOP, SCREENSHOTS


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
