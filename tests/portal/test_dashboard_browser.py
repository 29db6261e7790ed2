"""The lead partner's dashboard in real Chromium against the real services: it agrees with
evaluations' `/progress` (today and as of a past day), its XLSX holds the rows on the screen,
and a city's save shows on an open dashboard within seconds, without a reload (Kafka → SSE)."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import text

from services.evaluations.config import Settings as EvaluationsSettings
from shared.platform.db import make_engine
from tests.portal.conftest import PortalSystem, run_async
from tests.portal.test_browser import check_accessibility, new_context, shot, sign_in

pytestmark = pytest.mark.services


def chips(page: Page) -> dict[str, str]:
    """The matrix on the screen: follow-up id -> status."""
    marks = page.locator("#matrix a.mark").evaluate_all("els => els.map(e => [e.dataset.followup, e.dataset.status])")
    return dict(marks)


def progress(system: PortalSystem, path: str = "/progress", **params: Any) -> Any:
    with system.api("evaluations", system.tokens["lead"]) as ev:
        answer = ev.get(path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()


def assert_agrees_with_progress(page: Page, system: PortalSystem, **as_of: str) -> None:
    """The matrix counts per city and the dimension table equal `/progress` for the same day."""
    by_city = progress(system, by="city", **as_of)
    screen = chips(page)
    cells = progress(system, "/progress/cells", **as_of)["cells"]
    assert screen == {c["id"]: c["implementation_status"] for c in cells}
    counted: dict[str, Counter[str]] = {}
    for c in cells:
        counted.setdefault(c["city"], Counter())[screen[c["id"]]] += 1
    assert {g["key"]: {k: v for k, v in g["by_status"].items() if v} for g in by_city["groups"]} == {
        city: dict(statuses) for city, statuses in counted.items()
    }
    by_dimension = progress(system, by="dimension", **as_of)["groups"]
    rows = page.locator("#dimension-table tbody tr")
    assert rows.count() == len(by_dimension)
    for group in by_dimension:
        row = page.locator(f"#dimension-table tr[data-dimension='{group['key']}']")
        assert row.locator("td[data-total]").get_attribute("data-total") == str(group["total"])
        assert float(row.locator("td[data-share]").get_attribute("data-share") or "nan") == group["implemented_share"]


def test_the_dashboard_agrees_with_progress_and_exports_its_rows(browser: Browser, portal_system: PortalSystem) -> None:
    context = new_context(browser, portal_system)
    page = context.new_page()
    sign_in(page, portal_system, "lead")
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_selector("#matrix")
    check_accessibility(page)
    assert_agrees_with_progress(page, portal_system)
    page.locator("#dimension-table").locator("xpath=ancestor::details").locator("summary").click()  # the numbers, one click away
    assert page.locator("#dimension-table").is_visible()
    shot(page, "dashboard")
    screen = chips(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download Excel (XLSX)").click()
    sheet = load_workbook(io.BytesIO(download.value.path().read_bytes()), read_only=True).active
    assert sheet is not None
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    exported = {r[header.index("follow_up_id")]: r[header.index("implementation_status")] for r in rows}
    assert exported == screen
    assert all(r[header.index("recommendation_text")] for r in rows)  # the text, not only the title
    first = page.locator("#matrix a.mark").first  # a cell opens its follow-up
    title = first.locator(".mark-title").inner_text().strip()
    first.click()
    page.wait_for_url("**/follow-ups/*")
    page.wait_for_function("t => document.querySelector('h1') && document.querySelector('h1').innerText.trim() === t", arg=title)
    context.close()


def test_the_dashboard_in_french(browser: Browser, portal_system: PortalSystem) -> None:
    context = new_context(browser, portal_system, locale="fr-FR")
    page = context.new_page()
    sign_in(page, portal_system, "lead_fr")
    page.goto("/dashboard")
    assert page.inner_text("h1") == "Tableau de bord du suivi"
    check_accessibility(page)
    shot(page, "dashboard-fr")
    context.close()


def test_a_city_save_shows_on_an_open_dashboard_without_reload(browser: Browser, portal_system: PortalSystem) -> None:
    followup = portal_system.fresh_followup("Live dashboard: a cluster manager for logistics")
    lead = new_context(browser, portal_system)
    dashboard = lead.new_page()
    sign_in(dashboard, portal_system, "lead")
    # the vendored htmx SSE extension fires htmx:sseOpen (bubbling) once the event stream is open
    dashboard.add_init_script("document.addEventListener('htmx:sseOpen', () => { window.__sseOpen = true; });")
    dashboard.goto("/dashboard")
    mark = dashboard.locator(f"#matrix a[data-followup='{followup}']")
    assert mark.get_attribute("data-status") == "not_started"
    dashboard.evaluate("window.__sameDocument = true")  # gone if the page reloads
    dashboard.wait_for_function("window.__sseOpen === true", timeout=10_000)  # the event stream is connected

    city: BrowserContext = new_context(browser, portal_system)
    official = city.new_page()
    sign_in(official, portal_system, "leipzig2")
    official.goto(f"/follow-ups/{followup}")
    official.select_option("#response", "accepted")
    official.select_option("#implementation_status", "in_progress")
    official.get_by_role("button", name="Save").click()
    official.wait_for_selector("text=Saved.")

    dashboard.wait_for_selector(f"#matrix a[data-followup='{followup}'][data-status='in_progress']", timeout=10_000)
    assert dashboard.evaluate("window.__sameDocument") is True
    check_accessibility(dashboard)
    city.close()
    lead.close()


async def _backdate(system: PortalSystem, followup: str, days: int) -> None:
    """Move a follow-up's whole history `days` back, as if it had happened then."""
    engine = make_engine(system.env.settings(EvaluationsSettings).database_url, pool_size=1)
    try:
        async with engine.begin() as db:
            await db.execute(
                text("UPDATE followup_history SET at = at - make_interval(days => :d) WHERE followup_id = :f"),
                {"d": days, "f": followup},
            )
    finally:
        await engine.dispose()


def test_the_dashboard_as_of_a_past_day_matches_progress_as_of(browser: Browser, portal_system: PortalSystem) -> None:
    followup = portal_system.fresh_followup("As of: a shared incubator for the textile cluster")
    with portal_system.api("evaluations", run_async(portal_system.env.token("city_official", city="leipzig"))) as ev:
        current = ev.get(f"/follow-ups/{followup}")
        ev.patch(
            f"/follow-ups/{followup}",
            json={"response": "accepted", "implementation_status": "planned"},
            headers={"If-Match": current.headers["etag"]},
        ).raise_for_status()
        run_async(_backdate(portal_system, followup, 40))  # planned 40 days ago…
        current = ev.get(f"/follow-ups/{followup}")
        ev.patch(
            f"/follow-ups/{followup}",
            json={"implementation_status": "in_progress"},
            headers={"If-Match": current.headers["etag"]},
        ).raise_for_status()
    day = (datetime.now(UTC).date() - timedelta(days=20)).isoformat()  # …and in progress only today

    context = new_context(browser, portal_system)
    page = context.new_page()
    sign_in(page, portal_system, "lead")
    page.goto("/dashboard")
    page.fill("#as-of", day)
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"**/dashboard?as_of={day}")
    page.wait_for_selector("#matrix")
    assert chips(page)[followup] == "planned"
    assert_agrees_with_progress(page, portal_system, as_of=day)
    check_accessibility(page)
    context.close()


def test_the_printable_city_report_has_every_recommendation_text_and_prints_without_navigation(
    browser: Browser, portal_system: PortalSystem
) -> None:
    context = new_context(browser, portal_system)
    page = context.new_page()
    sign_in(page, portal_system, "lead")
    page.goto("/dashboard")
    page.get_by_role("link", name="Printable report (Leipzig)").click()
    page.wait_for_url("**/reports/leipzig")
    check_accessibility(page)
    with portal_system.api("evaluations", portal_system.tokens["lead"]) as ev:
        leipzig = ev.get("/follow-ups", params={"city": "leipzig", "limit": 200}).json()["items"]
    texts = page.locator(".report-item .recommendation-text").all_inner_texts()
    assert sorted(t.strip() for t in texts) == sorted(f["recommendation_text"].strip() for f in leipzig)
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible() and page.locator("h1").is_visible()
    shot(page, "city-report-print")
    context.close()


def test_the_dashboard_lists_what_changed_since_the_last_visit(browser: Browser, portal_system: PortalSystem) -> None:
    followup = portal_system.fresh_followup("Since last visit: a joint trade fair stand")
    context = new_context(browser, portal_system)
    page = context.new_page()
    sign_in(page, portal_system, "lead")
    page.goto("/dashboard")  # a visit…
    page.wait_for_selector("#matrix")
    with portal_system.api("evaluations", run_async(portal_system.env.token("city_official", city="leipzig"))) as ev:
        etag = ev.get(f"/follow-ups/{followup}").headers["etag"]
        body = {"response": "accepted", "implementation_status": "planned"}
        ev.patch(f"/follow-ups/{followup}", json=body, headers={"If-Match": etag}).raise_for_status()
    page.goto("/dashboard")  # …and the next one lists what changed in between
    row = page.locator(f"#changed-table tr[data-followup='{followup}']")
    assert "Planned" in row.inner_text()
    check_accessibility(page)
    page.goto("/dashboard")  # seen: the visit after shows it no more
    assert page.locator(f"#changed-table tr[data-followup='{followup}']").count() == 0
    context.close()
