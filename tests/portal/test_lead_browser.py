"""The lead partner's pages in real Chromium against the real services: the verification queue
(verify; send back with a comment the city then reads), axe-core on every page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from tests.portal.conftest import PortalSystem, run_async
from tests.portal.test_browser import check_accessibility, new_context, shot, sign_in

pytestmark = pytest.mark.services


def city_answers(system: PortalSystem, followup: str, status: str) -> None:
    """Leipzig records an answer through the API (the form itself is tested elsewhere)."""
    with system.api("evaluations", run_async(system.env.token("city_official", city="leipzig"))) as ev:
        etag = ev.get(f"/follow-ups/{followup}").headers["etag"]
        body = {"response": "accepted", "implementation_status": status}
        ev.patch(f"/follow-ups/{followup}", json=body, headers={"If-Match": etag}).raise_for_status()


def queue_entry(page: Page, followup: str) -> str:
    return f"#queue-{followup}"


def test_the_lead_partner_verifies_and_sends_back_and_the_city_reads_why(browser: Browser, portal_system: PortalSystem) -> None:
    verified = portal_system.fresh_followup("Verify: a one-stop shop for biotech start-ups")
    sent_back = portal_system.fresh_followup("Send back: a cluster observatory with yearly indicators")
    city_answers(portal_system, verified, "in_progress")
    city_answers(portal_system, sent_back, "in_progress")

    lead = new_context(browser, portal_system)
    page = lead.new_page()
    sign_in(page, portal_system, "lead")
    page.get_by_role("link", name="Verification").click()
    page.wait_for_selector(queue_entry(page, sent_back))
    check_accessibility(page)
    shot(page, "verification")

    page.locator(queue_entry(page, verified)).get_by_role("button", name="Verify").click()
    page.wait_for_selector("text=Verified.")
    assert page.locator(queue_entry(page, verified)).count() == 0  # judged: out of the queue

    entry = page.locator(queue_entry(page, sent_back))
    entry.get_by_role("button", name="Send back").click()  # without a comment: evaluations refuses
    page.wait_for_selector(".error")
    entry = page.locator(queue_entry(page, sent_back))
    error = entry.locator(".error")  # in the card it is about, tied to the comment it asks for
    assert "comment" in error.inner_text() and page.locator(".error").count() == 1
    assert entry.locator("textarea").get_attribute("aria-describedby") == error.get_attribute("id")
    assert entry.locator("textarea").get_attribute("aria-invalid") == "true"
    evidence = entry.get_by_role("link", name="The evidence of this follow-up")
    assert evidence.get_attribute("href") == f"/follow-ups/{sent_back}#evidence"
    check_accessibility(page)
    shot(page, "verification-refused")
    page.locator(queue_entry(page, sent_back)).locator("textarea").fill("The evidence does not show the observatory running yet.")
    page.locator(queue_entry(page, sent_back)).get_by_role("button", name="Send back").click()
    page.wait_for_selector("text=Sent back to the city.")
    assert page.locator(queue_entry(page, sent_back)).count() == 0
    lead.close()

    city = new_context(browser, portal_system)
    official = city.new_page()
    sign_in(official, portal_system, "leipzig")
    official.goto(f"/follow-ups/{sent_back}")
    assert "The evidence does not show the observatory running yet." in official.inner_text(".verdict")
    check_accessibility(official)
    official.goto(f"/follow-ups/{verified}")
    assert "Verified by the lead partner." in official.inner_text(".verdict")
    city.close()


def test_a_city_official_cannot_open_the_verification_queue(browser: Browser, portal_system: PortalSystem) -> None:
    followup = portal_system.fresh_followup("Verification queue: a Leipzig answer waits")
    city = new_context(browser, portal_system)
    page = city.new_page()
    sign_in(page, portal_system, "leipzig")
    page.goto(f"/follow-ups/{followup}")  # an answer of Leipzig's, so the queue has one at least
    page.select_option("#response", "accepted")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=Saved.")
    assert page.get_by_role("link", name="Verification").count() == 0  # not offered…
    page.goto("/verification")  # …and evaluations scopes the queue to Leipzig's own follow-ups
    entries = page.locator("section[id^=queue-] .meta").all()
    for entry in entries:
        assert entry.inner_text().startswith("Leipzig")
    assert page.get_by_role("button", name="Verify").count() == 0  # only the lead partner judges: no form to be refused
    assert entries and page.locator("#judged-by").is_visible()  # the queue says who judges it
    city.close()


def test_the_lead_partner_publishes_a_seminar_and_the_host_city_sees_its_recommendations(
    browser: Browser, portal_system: PortalSystem
) -> None:
    theme = "Cluster management after the Leipzig visit"
    titles = ("Appoint a full-time cluster manager", "Open the cluster board to SMEs")
    lead = new_context(browser, portal_system)
    page = lead.new_page()
    sign_in(page, portal_system, "lead")
    page.get_by_role("link", name="Seminars").click()
    page.wait_for_selector("#new-seminar")
    check_accessibility(page)
    page.fill("#theme", theme)
    page.select_option("#host_city", "leipzig")
    page.fill("#held_on", "2026-11-20")
    page.get_by_role("button", name="Schedule").click()
    page.wait_for_selector("text=The seminar is scheduled.")
    for title in titles:
        page.fill("#title", title)
        page.fill("#text", f"{title}, reporting to the steering group every quarter.")
        page.select_option("#dimension", "processes")
        page.get_by_role("button", name="Save the draft").click()
        page.wait_for_selector("text=The draft is saved.")
    check_accessibility(page)
    page.get_by_role("button", name="Publish the report (2 drafts)").click()
    page.wait_for_selector("text=The report is published: its recommendations are issued")  # not the draft message
    shot(page, "seminar")

    late = "Report to the council on the cluster manager's first year"  # drafted after the report: issued on its own
    page.fill("#title", late)
    page.fill("#text", f"{late}, with the indicators agreed at the seminar.")
    page.get_by_role("button", name="Save the draft").click()
    page.wait_for_selector("text=The report is already published: issue the draft below")
    check_accessibility(page)
    page.get_by_role("button", name=f"Issue {late}").click()
    page.wait_for_selector("text=The recommendation is issued: the city sees it.")
    assert page.get_by_role("button", name=f"Issue {late}").count() == 0
    check_accessibility(page)
    shot(page, "seminar-issued")
    titles = (*titles, late)

    page.get_by_role("link", name=titles[0]).click()  # revise with a reason: the page shows the difference
    page.fill("#r-text", f"{titles[0]}, reporting to the city council every quarter.")
    page.fill("#r-reason", "The council, not the steering group, funds the post")
    page.get_by_role("button", name="Revise").click()
    page.wait_for_selector("text=The recommendation is revised")
    assert page.locator(".diff del").first.inner_text().strip() == "steering group"
    assert page.locator(".diff ins").first.inner_text().strip() == "city council"
    check_accessibility(page)
    shot(page, "recommendation-history")
    lead.close()

    city = new_context(browser, portal_system)
    official = city.new_page()
    sign_in(official, portal_system, "leipzig")
    for _ in range(40):  # the follow-ups open when evaluations has read the events
        official.goto("/city")
        text = official.inner_text("main")
        if all(t in text for t in titles):
            break
        official.wait_for_timeout(500)
    assert all(t in official.inner_text("main") for t in titles)
    check_accessibility(official)
    city.close()


@pytest.mark.parametrize("who", ["lead", "admin"])
def test_the_header_fits_on_one_line_at_1280_px_and_wraps_within_itself_when_narrow(
    browser: Browser, portal_system: PortalSystem, who: str
) -> None:
    context = new_context(browser, portal_system)  # 1280 px wide
    page = context.new_page()
    sign_in(page, portal_system, who)
    page.goto("/settings/notifications")
    middles = "els => els.map(e => { const r = e.getBoundingClientRect(); return Math.round(r.top + r.height / 2); })"
    parts = page.locator("header.top .brand, header.top nav li, header.top .who")
    rows = parts.evaluate_all(middles)
    assert max(rows) - min(rows) <= 4, rows  # brand, every menu item and the person: one line
    shot(page, f"header-{who}")
    page.set_viewport_size({"width": 900, "height": 900})  # narrower: the menu wraps, nothing leaves the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 900
    context.close()


ADMIN_PAGES = ("/admin/people", "/admin/tokens", "/admin/subscriptions", "/admin/deliveries")


def test_a_city_official_typing_the_admin_urls_gets_403_pages(browser: Browser, portal_system: PortalSystem) -> None:
    city = new_context(browser, portal_system)
    page = city.new_page()
    sign_in(page, portal_system, "leipzig")
    assert page.get_by_role("link", name="Administration").count() == 0
    for path in ADMIN_PAGES:
        answer = page.goto(path)
        assert answer is not None and answer.status == 403, path
        check_accessibility(page)
    shot(page, "admin-403")
    city.close()


def test_the_admin_creates_and_revokes_a_token_and_adds_a_person(browser: Browser, portal_system: PortalSystem) -> None:
    context = new_context(browser, portal_system)
    page = context.new_page()
    sign_in(page, portal_system, "admin")
    page.get_by_role("link", name="Administration").click()
    page.wait_for_selector("#people")
    check_accessibility(page)
    page.fill("#p-name", "Mikko Virtanen")
    page.fill("#p-email", "mikko.virtanen@helsinki.example")
    page.select_option("#p-role", "city_official")
    page.select_option("#p-city", "helsinki")
    page.get_by_role("button", name="Add", exact=True).click()
    password = page.inner_text("#new-password").strip()
    assert len(password) >= 12 and "mikko.virtanen@helsinki.example" in page.inner_text("#people")

    page.get_by_role("link", name="Integration tokens").click()
    page.fill("#t-label", "Helsinki open data portal")
    page.get_by_role("button", name="Create the token").click()
    token = page.inner_text("#new-token").strip()
    check_accessibility(page)
    shot(page, "admin-tokens")
    with portal_system.api("evaluations", token) as ev:
        assert ev.get("/progress").status_code == 200  # the new token works…
    token_id = token.removeprefix("clusnet_").split("_", 1)[0]  # clusnet_<id>_<secret>
    page.locator(f"tr[data-token='{token_id}']").get_by_role("button", name="Revoke").click()
    page.wait_for_selector(f"text=Token {token_id} is revoked.")
    assert page.locator("#new-token").count() == 0  # shown once only
    with portal_system.api("evaluations", token) as ev:
        for _ in range(20):  # …until revoked (the services cache a verified token briefly)
            if ev.get("/progress").status_code == 401:
                break
            page.wait_for_timeout(500)
        assert ev.get("/progress").status_code == 401

    for path in ("/admin/subscriptions", "/admin/deliveries"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 200
        check_accessibility(page)
    context.close()
