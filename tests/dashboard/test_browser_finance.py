"""Finance in a real browser (headless Debian Chromium): a second grouping dimension changes the
numbers on the Chargeback page and the downloaded CSV is exactly the rows the store gives; a range
of days is picked, survives a reload and downloads as such; the cost-centre column comes from the
operator's file; money on the page is in whole cents while the CSV keeps nano-dollars."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine

from dashboard.app import create_app
from dashboard.chargeback import chargeback_csv, chargeback_request, chargeback_rows, load_cost_centres, total_cost
from dashboard.components import cents
from dashboard.settings import DashboardSettings
from store.balances import month_bounds
from store.engine import make_engine
from store.testing import migrated_sqlite_url
from tests.dashboard.browser import chromium, screenshot, sign_in_page
from tests.dashboard.conftest import PASSWORDS
from tests.dashboard.fleet import exact_turn_total, seed_turns
from tests.dashboard.serving import serve_wsgi

NOW = datetime.now(UTC).replace(tzinfo=None)
MONTH = f"{NOW:%Y-%m}"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(migrated_sqlite_url(tmp_path_factory.mktemp("finance-db")))
    seed_turns(engine, NOW)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def centres_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("finance-settings") / "cost-centres.yaml"
    path.write_text("teams:\n  team0: '4100-PAY'\n  team1: '4200-PLT'\ndefault: '9999-REST'\n")
    return path


@pytest.fixture(scope="module")
def base_url(settings: DashboardSettings, store: Engine, centres_file: Path) -> Iterator[str]:
    configured = settings.model_copy(update={"cost_centres_file": centres_file})
    with serve_wsgi(create_app(configured, store).server) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)
    yield opened
    context.close()


def _grid_rows(page: Page) -> int:
    page.wait_for_selector("#chargeback-preview .ag-row")
    return int(page.locator("#chargeback-preview .ag-center-cols-container .ag-row").count())


def _download(page: Page, tmp_path: Path) -> str:
    with page.expect_download() as download_info:
        page.click("#chargeback-download")
    target = tmp_path / "chargeback.csv"
    download_info.value.save_as(target)
    return target.read_text()


def test_a_second_dimension_splits_the_rows_and_the_csv_matches(page: Page, base_url: str, store: Engine,
                                                                 centres_file: Path, tmp_path: Path) -> None:
    sign_in_page(page, base_url, "victor", PASSWORDS["victor"])
    page.goto(f"{base_url}/chargeback")
    expect(page.locator("#chargeback-total")).to_contain_text("3 rows")  # this month by team
    assert _grid_rows(page) == 3
    page.select_option("#chargeback-by", "developer")
    page.select_option("#chargeback-then", "repo")
    page.click("#chargeback-show")
    page.wait_for_url(lambda url: url.endswith(f"/chargeback?month={MONTH}&from=&to=&by=developer&then=repo"))
    centres = load_cost_centres(centres_file)
    rows = chargeback_rows(store, chargeback_request(months=[MONTH], by="developer", then="repo"), centres)
    expect(page.locator("#chargeback-total")).to_contain_text(f"{len(rows)} rows")
    assert len(rows) > 3 and _grid_rows(page) == min(len(rows), 50)
    # the headers: the two dimensions, the developer's team and its cost centre
    headers = page.locator("#chargeback-preview .ag-header-cell-text").all_inner_texts()
    assert headers[:4] == ["developer", "team", "repo", "cost centre"]
    expect(page.locator("#chargeback-total")).to_contain_text(f"total {cents(total_cost(rows))}")
    text = _download(page, tmp_path)
    assert text == chargeback_csv(rows)
    lines = list(csv.DictReader(io.StringIO(text)))
    assert sum(Decimal(line["cost_usd"]) for line in lines) == exact_turn_total(store, *month_bounds(MONTH))
    assert {line["cost_centre"] for line in lines} == {"4100-PAY", "4200-PLT", "9999-REST"}
    assert all(line["team"] and line["developer"] and line["repo"] for line in lines)
    screenshot(page, "chargeback-developer-repo")


def test_a_range_of_days_is_shown_kept_on_reload_and_downloaded(page: Page, base_url: str, store: Engine,
                                                               centres_file: Path, tmp_path: Path) -> None:
    first, last = f"{NOW - timedelta(days=12):%Y-%m-%d}", f"{NOW - timedelta(days=3):%Y-%m-%d}"
    sign_in_page(page, base_url, "victor", PASSWORDS["victor"])
    page.goto(f"{base_url}/chargeback")
    page.select_option("#chargeback-month", "")
    page.fill("#chargeback-from", first)
    page.fill("#chargeback-to", last)
    page.select_option("#chargeback-by", "cost_centre")
    page.click("#chargeback-show")
    page.wait_for_url(lambda url: url.endswith(f"/chargeback?month=&from={first}&to={last}&by=cost_centre&then="))
    asked = chargeback_request(first=first, last=last, by="cost_centre")
    rows = chargeback_rows(store, asked, load_cost_centres(centres_file))
    expect(page.locator("#chargeback-total")).to_contain_text(f"{first}..{last} ({first} to {last}, UTC)")
    expect(page.locator("#chargeback-total")).to_contain_text(f"total {cents(total_cost(rows))}")
    expect(page.locator("#chargeback-close")).to_be_disabled()  # only a whole month is ever closed
    page.reload()
    expect(page.locator("#chargeback-total")).to_contain_text(f"{first}..{last}")
    expect(page.locator("#chargeback-from")).to_have_value(first)
    page.wait_for_selector("#chargeback-preview .ag-row")
    shown = page.locator("#chargeback-preview .ag-center-cols-container .ag-row").all_inner_texts()
    assert sorted(line.split("\n")[0] for line in shown) == ["4100-PAY", "4200-PLT", "9999-REST"]
    text = _download(page, tmp_path)
    assert text == chargeback_csv(rows)
    assert {line["period"] for line in csv.DictReader(io.StringIO(text))} == {f"{first}..{last}"}
    start = datetime.fromisoformat(first)
    assert total_cost(rows) == exact_turn_total(store, start, datetime.fromisoformat(last) + timedelta(days=1))
    screenshot(page, "chargeback-range-cost-centres")


def test_a_bad_range_says_why_on_the_page(page: Page, base_url: str) -> None:
    sign_in_page(page, base_url, "victor", PASSWORDS["victor"])
    page.goto(f"{base_url}/chargeback?from=2026-11-09&to=2026-11-01&by=team")
    expect(page.locator("#chargeback-problem")).to_contain_text("the range ends (2026-11-01) before it starts")
    expect(page.locator("#chargeback-columns")).to_contain_text("cost_centre")  # the columns are still explained
