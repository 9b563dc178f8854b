"""Browser fixtures: Playwright driving Debian's Chromium against the live test server. The helpers
the journeys use in the page (log in, fill a field, pick an option) are in tests/browser.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("AXOPS_CHROMIUM", "/usr/bin/chromium")
# The server serves AXOPS_WEB_DIST when set (a build of one's own, while others rebuild web/dist).
WEB_DIST = Path(os.environ.get("AXOPS_WEB_DIST") or ROOT / "web" / "dist")


@pytest.fixture
def browser_page(api, live_server, tmp_path):
    if not (WEB_DIST / "index.html").exists():
        pytest.fail("the web UI is not built: run `make web` (make test does)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (make test does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
        )
        context = browser.new_context(base_url=live_server.url, locale="ko-KR", accept_downloads=True)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        context.set_default_timeout(15_000)
        page = context.new_page()
        yield page
        context.close()
        browser.close()
