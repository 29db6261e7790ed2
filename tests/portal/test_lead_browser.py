"""The lead partner's pages in real Chromium against the real services: the verification queue
(verify; send back with a comment the city then reads), axe-core on every page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from tests.portal import test_browser
from tests.portal.conftest import PortalSystem, run_async
from tests.portal.test_browser import check_accessibility, new_context, shot, sign_in

pytestmark = pytest.mark.services
# The session's one Chromium, shared with the portal's other browser tests.
playwright, browser = test_browser.playwright, test_browser.browser


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
    assert "comment" in page.inner_text(".error")
    check_accessibility(page)
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
    city = new_context(browser, portal_system)
    page = city.new_page()
    sign_in(page, portal_system, "leipzig")
    assert page.get_by_role("link", name="Verification").count() == 0  # not offered…
    page.goto("/verification")  # …and evaluations scopes the queue to Leipzig's own follow-ups
    for entry in page.locator("section[id^=queue-] .meta").all():
        assert entry.inner_text().startswith("Leipzig")
    city.close()
