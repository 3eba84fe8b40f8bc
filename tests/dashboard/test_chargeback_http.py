"""The chargeback download and page over real HTTP on loopback, on SQLite and PostgreSQL: two
dimensions, a range of days and the operator's cost-centre file reach the CSV exactly as the
functions compute them; a bad request gets a 400 with the reason, a cost-centre file broken after
start a 503 (the asker did nothing wrong), and the page says so instead of failing."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from dashboard.app import create_app
from dashboard.chargeback import chargeback_csv, chargeback_request, chargeback_rows, load_cost_centres
from dashboard.settings import DashboardSettings
from store.audit import list_audit
from tests.dashboard.client import call_callback, sign_in
from tests.dashboard.conftest import PASSWORDS, utc_now
from tests.dashboard.fleet import seed_turns
from tests.dashboard.serving import serve_wsgi

CENTRES = "teams:\n  team0: '4100-PAY'\n  team1: '4200-PLT'\n"


@pytest.fixture
def centres_file(tmp_path: Path) -> Path:
    path = tmp_path / "cost-centres.yaml"
    path.write_text(CENTRES)
    return path


@pytest.fixture
def client(settings: DashboardSettings, db_engine: Engine, centres_file: Path) -> Iterator[httpx.Client]:
    seed_turns(db_engine, utc_now(), count=240)
    configured = settings.model_copy(update={"cost_centres_file": centres_file})
    with serve_wsgi(create_app(configured, db_engine).server) as url, httpx.Client(base_url=url) as signed_in:
        sign_in(signed_in, "victor", PASSWORDS["victor"])
        yield signed_in


def _page(client: httpx.Client, search: str) -> str:
    response = call_callback(client, ["page.children"], {"url.pathname": "/chargeback"}, {"url.search": search},
                             "url.pathname")
    assert response.status_code == 200
    return response.text


def test_two_dimensions_a_range_and_cost_centres_reach_the_csv(client: httpx.Client, db_engine: Engine,
                                                             centres_file: Path) -> None:
    month = f"{utc_now():%Y-%m}"
    centres = load_cost_centres(centres_file)
    response = client.get("/export/chargeback.csv", params={"month": month, "by": "team", "then": "repo"})
    assert response.status_code == 200
    asked = chargeback_request(months=[month], by="team", then="repo")
    assert response.text == chargeback_csv(chargeback_rows(db_engine, asked, centres))
    lines = list(csv.DictReader(io.StringIO(response.text)))
    assert {(line["team"], line["cost_centre"]) for line in lines} == {("team0", "4100-PAY"), ("team1", "4200-PLT"),
                                                                       ("team2", "")}  # not listed, no default
    first, last = f"{utc_now() - timedelta(days=9):%Y-%m-%d}", f"{utc_now():%Y-%m-%d}"
    ranged = client.get("/export/chargeback.csv", params={"from": first, "to": last, "by": "developer"})
    assert ranged.status_code == 200
    assert f'chargeback-{first}_to_{last}-developer.csv' in ranged.headers["content-disposition"]
    assert ranged.text == chargeback_csv(chargeback_rows(
        db_engine, chargeback_request(first=first, last=last, by="developer"), centres))
    entries = list_audit(db_engine, action="chargeback.export")
    assert [(e.detail["by"], e.detail["periods"]) for e in reversed(entries)] == [
        ("team+repo", [month]), ("developer", [f"{first}..{last}"])]


@pytest.mark.parametrize("params", [
    {"month": "2026-11", "by": "team", "then": "team"}, {"month": "2026-11", "by": "session"},
    {"month": "2026-11", "from": "2026-11-01", "to": "2026-11-02"}, {"from": "2026-11-09", "to": "2026-11-01"},
    {"from": "2026-01-01", "to": "2027-06-01"}, {"by": "team"},
])
def test_a_bad_download_is_refused_with_the_reason(client: httpx.Client, params: dict[str, str]) -> None:
    response = client.get("/export/chargeback.csv", params=params)
    assert response.status_code == 400 and response.text.strip()


def test_the_page_shows_the_view_the_url_names(client: httpx.Client) -> None:
    month = f"{utc_now():%Y-%m}"
    text = _page(client, f"?month={month}&by=developer&then=repo")
    assert "cost centre" in text and "1 team it does not list (team2): their cost centre is empty" in text
    assert "by=developer&then=repo" in text and f"month={month}" in text  # the download link keeps the view
    assert "Not shown: group by" in _page(client, f"?month={month}&by=session")


def test_a_cost_centre_file_broken_after_start_is_a_503_not_a_wrong_csv(client: httpx.Client,
                                                                      centres_file: Path) -> None:
    centres_file.write_text("teams:\n  team0: 4100\n")
    response = client.get("/export/chargeback.csv", params={"month": f"{utc_now():%Y-%m}", "by": "team"})
    assert response.status_code == 503 and "quote it" in response.text
    assert "Not shown: the cost-centre file" in _page(client, "")


def test_an_unusable_cost_centre_file_stops_the_dashboard_at_start(settings: DashboardSettings, db_engine: Engine,
                                                                  tmp_path: Path) -> None:
    broken = tmp_path / "centres.yaml"
    broken.write_text("teams: [payments]\n")
    with pytest.raises(ValueError, match="map each team"):
        create_app(settings.model_copy(update={"cost_centres_file": broken}), db_engine)
