"""The spreadsheet import and the network picture in a real headless Chromium (Debian's, driven by
Playwright) against the real services on real Kafka and PostgreSQL; axe-core on every page.
Screenshots through test_browser's `shot`, like every browser test."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext

from tests.portal.conftest import PortalSystem
from tests.portal.test_browser import check_accessibility, context, shot, sign_in  # noqa: F401
from tests.portal.test_pages_sheets import drafts_of, edited, new_seminar, save_as_colleague
from tests.sheetfiles import recommendation_rows, xlsx

pytestmark = pytest.mark.services
ROWS = 5_000


def test_lead_partner_imports_five_thousand_rows_watching_the_progress_bar(
    context: BrowserContext,  # noqa: F811
    portal_system: PortalSystem,
    tmp_path: Path,
) -> None:
    seminar = new_seminar(portal_system, f"Biotech report {uuid.uuid4().hex[:4]}")
    sheet = tmp_path / "biotech-report.xlsx"
    sheet.write_bytes(xlsx(recommendation_rows(ROWS, prefix="Share the biotech campus")))
    page = context.new_page()
    sign_in(page, portal_system, "lead")
    page.get_by_role("link", name="Import recommendations").click()
    page.wait_for_url("**/spreadsheets/recommendations")
    check_accessibility(page)
    page.select_option("#seminar", seminar)
    page.set_input_files("#sheet", str(sheet))
    page.get_by_role("button", name="Preview the import").click()
    page.wait_for_url("**/spreadsheets/uploads/*", timeout=60_000)
    summary = page.locator(".counts").inner_text()
    assert "5,000 rows read" in summary and "5,000 recommendations to create" in summary and "0 errors" in summary
    assert page.locator("table.rows tbody tr").count() == 50  # rows page by page, all counted
    assert "Rows 1 to 50 of 5,000" in page.locator("#rows-range").inner_text()
    assert drafts_of(portal_system, seminar) == 0  # nothing written before the confirm
    check_accessibility(page)
    shot(page, "import-preview")

    page.get_by_role("button", name="Confirm: create 5,000 drafts").click()
    page.wait_for_url("**/spreadsheets/jobs/*")
    progress = page.locator("progress#job-progress")
    assert progress.get_attribute("max") == "100"
    assert "of 5,000 rows" in page.locator("#job-count").inner_text()  # its number as text beside the bar
    # Record the bar's values from inside the page: the record surviving to the end shows that htmx
    # updated the bar in place (a reload would have wiped it).
    page.evaluate(
        "() => { window.seen = []; const bar = () => document.querySelector('#job-progress');"
        " setInterval(() => window.seen.push(Number(bar().value)), 100) }"
    )
    check_accessibility(page)
    page.wait_for_function("() => window.seen.includes(100)", timeout=180_000)
    page.wait_for_selector("text=5,000 recommendations created")
    seen = page.evaluate("() => window.seen")
    assert seen == sorted(seen), "the bar only moves forward"
    assert "5,000 of 5,000 rows (100%)" in page.locator("#job-count").inner_text()
    assert page.locator("#job[hx-trigger]").count() == 0  # polling stops once the job is done
    check_accessibility(page)
    shot(page, "import-done")
    assert drafts_of(portal_system, seminar) == ROWS


def test_network_page_draws_as_many_clusters_and_links_as_the_api_has(
    context: BrowserContext,  # noqa: F811
    portal_system: PortalSystem,
) -> None:
    with portal_system.api("recommendations", portal_system.tokens["lead"]) as rec:
        everything = rec.get("/network").json()
        public = rec.get("/network", params={"public_only": "true"}).json()
    page = context.new_page()
    page.goto("/network")  # a visitor: public links only
    assert page.locator("svg.network g.node").count() == len(public["nodes"])
    assert page.locator("svg.network g.edge").count() == len(public["edges"])
    check_accessibility(page)
    sign_in(page, portal_system, "lead")
    page.get_by_role("link", name="Network").click()
    page.wait_for_url("**/network")
    assert page.locator("svg.network g.node").count() == len(everything["nodes"])
    assert page.locator("svg.network g.edge").count() == len(everything["edges"])
    assert page.locator("table.links tbody tr").count() == len(everything["edges"])
    kinds = {e["kind"] for e in everything["edges"]}
    assert {page.locator(f"svg.network g.edge[data-kind='{k}']").count() > 0 for k in kinds} == {True}
    check_accessibility(page)
    page.set_viewport_size({"width": 1760, "height": 1000})  # wide enough for the table beside the picture
    shot(page, "network")


def test_follow_up_page_shows_the_same_advice_elsewhere(
    context: BrowserContext,  # noqa: F811
    portal_system: PortalSystem,
) -> None:
    with portal_system.api("evaluations", portal_system.tokens["lead"]) as ev:
        leipzig = ev.get("/follow-ups", params={"city": "leipzig", "limit": 200}).json()["items"]
        with_peers = [(f["id"], peers) for f in leipzig if (peers := ev.get(f"/follow-ups/{f['id']}/peers").json())]
    assert with_peers, "the demo data relates Leipzig's advice to other cities'"
    followup, peers = max(with_peers, key=lambda p: len(p[1]))
    page = context.new_page()
    sign_in(page, portal_system, "leipzig")
    page.goto(f"/follow-ups/{followup}")
    section = page.locator("#peers")
    assert section.locator("tbody tr").count() == len(peers)
    assert {p["city"].capitalize() for p in peers} == set(section.locator("tbody th").all_inner_texts())
    check_accessibility(page)
    section.scroll_into_view_if_needed()
    shot(page, "same-advice-elsewhere")


def test_leipzig_round_trip_through_excel_in_the_browser(
    context: BrowserContext,  # noqa: F811
    portal_system: PortalSystem,
    tmp_path: Path,
) -> None:
    changed, refused, conflicting = (portal_system.fresh_followup(f"Excel {n} {uuid.uuid4().hex[:4]}") for n in "ABC")
    page = context.new_page()
    sign_in(page, portal_system, "leipzig")
    page.get_by_role("link", name="Update by spreadsheet").click()
    page.wait_for_url("**/spreadsheets/follow-ups")
    check_accessibility(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the follow-ups (XLSX)").click()
    exported = Path(download.value.path()).read_bytes()
    save_as_colleague(portal_system, conflicting, "Amt 32 (colleague)")  # after the export
    sheet = tmp_path / "follow-ups.xlsx"
    sheet.write_bytes(
        edited(
            exported,
            {
                changed: {"response": "accepted", "implementation_status": "planned", "owner": "Amt für Wirtschaft"},
                refused: {"implementation_status": "implemented"},
                conflicting: {"owner": "Amt 32 (sheet)"},
            },
        )
    )
    page.set_input_files("#sheet", str(sheet))
    page.get_by_role("button", name="Preview the changes").click()
    page.wait_for_url("**/spreadsheets/uploads/*")
    rows = page.locator("table.rows > tbody > tr")
    assert "Conflict: not applied" in rows.nth(0).inner_text() or "Conflict: not applied" in rows.nth(1).inner_text()
    conflict = page.locator("table.side-by-side")
    assert "Amt 32 (sheet)" in conflict.inner_text() and "Amt 32 (colleague)" in conflict.inner_text()
    check_accessibility(page)
    shot(page, "follow-ups-preview")
    page.get_by_role("button", name="Confirm: apply 1 change").click()
    page.wait_for_selector("text=1 follow-up changed")
    check_accessibility(page)
    with portal_system.api("evaluations", portal_system.tokens["lead"]) as ev:
        assert ev.get(f"/follow-ups/{changed}").json()["owner"] == "Amt für Wirtschaft"
        assert ev.get(f"/follow-ups/{conflicting}").json()["owner"] == "Amt 32 (colleague)"
