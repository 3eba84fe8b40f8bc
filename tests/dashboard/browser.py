"""Headless Debian Chromium driven by Playwright (never a downloaded browser): launch options,
whether it is there, and signing in through the real form."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import require_or_skip

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
               "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"


def chromium_available() -> bool:
    return CHROMIUM.exists() and shutil.which(str(CHROMIUM)) is not None


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium (the test skips, or fails where CI requires it, when it is absent)."""
    require_or_skip(chromium_available(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()


def sign_in_page(page: Page, base_url: str, user: str, password: str) -> None:
    page.goto(f"{base_url}/")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_selector("#nav-user")


def trace_count(page: Page, graph_id: str) -> int:
    """How many traces plotly drew in the dcc.Graph ``graph_id`` (waits for it first)."""
    selector = f"#{graph_id} .js-plotly-plot"
    page.wait_for_selector(selector)
    return int(page.evaluate("(selector) => document.querySelector(selector).data.length", selector))


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
