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


# Every axis plotly laid out in a graph: its kind, the range it settled on, the tick values it
# chose and the labels it drew (tspans joined, so "Nov 8" and "2026" read "Nov 8 2026").
_AXES = """(selector) => {
  const gd = document.querySelector(selector);
  const names = Object.keys(gd._fullLayout).filter(name => /^[xy]axis\\d*$/.test(name));
  return names.map(name => {
    const axis = gd._fullLayout[name];
    const tick = name.replace('axis', '') + 'tick';
    return {name, type: axis.type, visible: axis.visible, range: axis.range.map(String),
            values: (axis._vals || []).map(v => v.x),
            labels: Array.from(gd.querySelectorAll('.' + tick + ' text')).map(
              t => Array.from(t.childNodes).map(n => n.textContent).join(' '))};
  });
}"""


def plot_axes(page: Page, graph_id: str) -> list[dict[str, object]]:
    """The axes of the dcc.Graph ``graph_id`` as the browser drew them (waits for it first)."""
    selector = f"#{graph_id} .js-plotly-plot"
    page.wait_for_selector(selector)
    axes: list[dict[str, object]] = page.evaluate(_AXES, selector)
    return axes


def drawn_marks(page: Page, graph_id: str) -> int:
    """Bars, markers and line segments plotly drew in ``graph_id`` (0: the figure shows nothing)."""
    selector = f"#{graph_id} .js-plotly-plot"
    page.wait_for_selector(selector)
    return int(page.evaluate("""(selector) => {
      const gd = document.querySelector(selector);
      const bars = gd.querySelectorAll('.barlayer .point path');
      const points = gd.querySelectorAll('.scatterlayer .point');
      const lines = Array.from(gd.querySelectorAll('.scatterlayer .js-line')).filter(
        l => (l.getAttribute('d') || '').includes('L'));
      return bars.length + points.length + lines.length;
    }""", selector))
