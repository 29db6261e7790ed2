"""The portal in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright; no
browser download) against the real services on real Kafka and PostgreSQL. axe-core runs on every
page visited: zero serious or critical violations. Screenshots go to .run/screenshots/ (git-ignored),
or where `SCREENSHOTS` says (`make screenshots` refreshes docs/screenshots/).

Nothing here is skipped: without Chromium the launch fails with Playwright's message."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.integration.test_evidence_files import PDF
from tests.portal.conftest import HOSTILE_TITLE, PASSWORD, PortalSystem

pytestmark = pytest.mark.services
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "browser" / "vendor" / "axe.min.js"
SCREENSHOTS = ROOT / os.environ.get("SCREENSHOTS", ".run/screenshots")  # a test run leaves the tree clean


def new_context(browser: Browser, system: PortalSystem, locale: str = "en-GB") -> BrowserContext:
    # bypass_csp: the portal's strict CSP would (rightly) refuse the injected axe-core script.
    return browser.new_context(base_url=system.url, locale=locale, bypass_csp=True, viewport={"width": 1280, "height": 900})


@pytest.fixture
def context(browser: Browser, portal_system: PortalSystem) -> Iterator[BrowserContext]:
    ctx = new_context(browser, portal_system)
    yield ctx
    ctx.close()


def check_accessibility(page: Page) -> None:
    """axe-core's WCAG 2.x A/AA rules on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})")
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page.url}: " + json.dumps([{"id": v["id"], "nodes": [n["html"] for n in v["nodes"][:3]]} for v in bad])


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, system: PortalSystem, who: str, screenshot: str | None = None, axe: bool = True) -> None:
    page.goto("/login")
    if axe:  # (not in a context without JavaScript, where axe-core cannot run)
        check_accessibility(page)
    page.fill("#email", system.email(who))
    page.fill("#password", PASSWORD)
    if screenshot:
        shot(page, screenshot)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


def test_leipzig_official_records_a_response_and_sees_the_history(context: BrowserContext, portal_system: PortalSystem) -> None:
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto("/")
    check_accessibility(page)
    sign_in(page, portal_system, "leipzig", screenshot="sign-in")
    assert page.url.endswith("/city")
    page.wait_for_selector("h1")
    assert "Follow-ups of Leipzig" in page.inner_text("h1")
    check_accessibility(page)
    shot(page, "my-city")

    page.get_by_role("link", name=HOSTILE_TITLE, exact=True).click()  # the hostile title is a link text, not a script
    page.wait_for_url(f"**/follow-ups/{portal_system.hostile_followup}")
    assert page.inner_text("h1") == HOSTILE_TITLE and not dialogs
    check_accessibility(page)
    page.select_option("#response", "partially_accepted")
    page.fill("#comment", "The council agreed to part of it")
    page.select_option("#implementation_status", "planned")
    page.fill("#responsible_body", "Amt für Wirtschaftsförderung")
    page.fill("#planned_completion", "2027-06-30")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=Saved.")
    history = page.locator("section", has=page.locator("#history-title")).inner_text()
    assert "Partially accepted" in history and "The council agreed to part of it" in history
    link_form = page.get_by_role("form", name="Add a link")  # each form is named by its heading
    link_form.get_by_label("Title").fill("Council resolution")
    link_form.get_by_label("Link").fill("https://leipzig.example/council/2026-11")
    link_form.get_by_label("Public (shown on the public progress page)").check()
    link_form.get_by_role("button", name="Add the link").click()
    page.wait_for_selector("a:text('Council resolution')")
    file_form = page.get_by_role("form", name="Upload a file")
    file_form.get_by_label("Title").fill("Implementation plan (PDF)")
    file_form.get_by_label("File").set_input_files(files=[{"name": "plan.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    file_form.get_by_role("button", name="Upload the file").click()
    page.wait_for_selector("a:text('Implementation plan (PDF)')")
    with page.expect_download() as download:
        page.click("a:text('Implementation plan (PDF)')")
    assert Path(download.value.path()).read_bytes() == PDF
    history = page.locator("section", has=page.locator("#history-title")).inner_text()
    assert "Implementation plan (PDF)" in history
    check_accessibility(page)
    shot(page, "follow-up")
    assert not dialogs


def test_lyon_official_cannot_open_a_leipzig_follow_up(browser: Browser, portal_system: PortalSystem) -> None:
    ctx = new_context(browser, portal_system, locale="fr-FR")
    page = ctx.new_page()
    sign_in(page, portal_system, "lyon")
    response = page.goto(f"/follow-ups/{portal_system.leipzig_followup}")
    assert response is not None and response.status == 403
    assert "Vous ne pouvez pas ouvrir cette page" in page.inner_text("h1")
    check_accessibility(page)
    shot(page, "forbidden-fr")
    page.goto("/city")
    assert portal_system.leipzig_followup not in page.content()
    ctx.close()


def test_two_people_edit_the_same_follow_up_and_the_second_sees_the_conflict(
    browser: Browser, portal_system: PortalSystem
) -> None:
    first_ctx, second_ctx = new_context(browser, portal_system), new_context(browser, portal_system)
    first, second = first_ctx.new_page(), second_ctx.new_page()
    sign_in(first, portal_system, "leipzig")
    sign_in(second, portal_system, "leipzig2")
    path = f"/follow-ups/{portal_system.fresh_followup('Two editors')}"
    first.goto(path)
    second.goto(path)
    first.fill("#owner", "Jana Vogel")
    first.get_by_role("button", name="Save").click()
    first.wait_for_selector("text=Saved.")
    second.fill("#owner", "Max Weber")
    second.fill("#notes", "Max's notes, not to be lost")
    second.get_by_role("button", name="Save").click()
    second.wait_for_selector("text=Someone else saved this follow-up first")
    conflict = second.inner_text(".conflict")
    assert "Max Weber" in conflict and "Jana Vogel" in conflict
    assert second.input_value("#owner") == "Max Weber"
    assert second.input_value("#notes") == "Max's notes, not to be lost"
    check_accessibility(second)
    shot(second, "conflict")
    first_ctx.close()
    second_ctx.close()


@pytest.mark.parametrize(
    ("locale", "heading"),
    [("fr-FR", "Ce que sont devenues les recommandations CLUSNET"), ("de-DE", "Was aus den CLUSNET-Empfehlungen wurde")],
)
def test_french_and_german_pages(browser: Browser, portal_system: PortalSystem, locale: str, heading: str) -> None:
    ctx = new_context(browser, portal_system, locale=locale)
    page = ctx.new_page()
    page.goto("/")
    assert page.inner_text("h1") == heading
    check_accessibility(page)
    page.goto("/login")
    assert page.inner_text("h1") == {"fr-FR": "Se connecter", "de-DE": "Anmelden"}[locale]
    shot(page, f"sign-in-{locale[:2]}")
    ctx.close()


def test_the_public_page_shows_public_evidence_and_not_private(context: BrowserContext, portal_system: PortalSystem) -> None:
    page = context.new_page()
    sign_in(page, portal_system, "leipzig")
    page.goto(f"/follow-ups/{portal_system.leipzig_followup}")
    for title, public in (("Press release (public)", True), ("Draft budget (private)", False)):
        page.fill("#ev-title", title)
        page.fill("#ev-url", "https://leipzig.example/evidence")
        if public:
            page.check("#ev-public")
        page.get_by_role("button", name="Add the link").click()
        page.wait_for_selector(f"a:text('{title}')")
    anonymous = new_context(page.context.browser, portal_system)  # type: ignore[arg-type]
    public_page = anonymous.new_page()
    public_page.goto("/")
    text = public_page.inner_text("main")
    assert "Press release (public)" in text and "Draft budget (private)" not in text
    assert HOSTILE_TITLE in text  # shown as text, not run
    check_accessibility(public_page)
    shot(public_page, "public")
    anonymous.close()


def test_a_form_posted_without_its_csrf_token_is_refused(context: BrowserContext, portal_system: PortalSystem) -> None:
    page = context.new_page()
    sign_in(page, portal_system, "leipzig")
    page.goto(f"/follow-ups/{portal_system.leipzig_followup}")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    page.fill("#owner", "Forged")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save").click()
    assert posted.value.status == 403
    page.wait_for_selector("h1:text('This form cannot be accepted')")
    check_accessibility(page)
    page.goto(f"/follow-ups/{portal_system.leipzig_followup}")
    assert page.input_value("#owner") != "Forged"


def test_forms_work_without_javascript(browser: Browser, portal_system: PortalSystem) -> None:
    ctx = browser.new_context(base_url=portal_system.url, java_script_enabled=False)
    page = ctx.new_page()
    sign_in(page, portal_system, "leipzig2", axe=False)
    assert page.url.endswith("/city")
    page.goto(f"/follow-ups/{portal_system.leipzig_followup}")
    page.fill("#notes", "Saved without JavaScript")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=Saved.")
    assert page.input_value("#notes") == "Saved without JavaScript"
    ctx.close()


def test_sign_out_makes_the_old_cookie_useless(browser: Browser, context: BrowserContext, portal_system: PortalSystem) -> None:
    page = context.new_page()
    sign_in(page, portal_system, "leipzig")
    [cookie] = [c for c in context.cookies() if c["name"] == "clusnet_session"]
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("a[href='/login']")
    assert not [c for c in context.cookies() if c["name"] == "clusnet_session"]
    thief = new_context(browser, portal_system)
    thief.add_cookies([cookie])
    stolen = thief.new_page()
    stolen.goto("/city")
    assert "/login" in stolen.url
    thief.close()


def test_my_notifications_page(context: BrowserContext, portal_system: PortalSystem) -> None:
    page = context.new_page()
    sign_in(page, portal_system, "leipzig2")
    page.get_by_role("link", name="My notifications").click()
    page.wait_for_selector("h1:text('My notifications')")
    check_accessibility(page)
    page.check("#ev-followup\\.status_changed")
    page.check("#mode-digest")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_selector("text=Saved.")
    row = page.locator("tbody tr").first.inner_text()
    assert "Leipzig" in row and "An implementation status changes" in row and "Daily digest" in row and "Active" in row
    check_accessibility(page)
    shot(page, "my-notifications")
    page.get_by_role("button", name="Turn off").click()
    page.wait_for_selector("button:text('Turn on')")
    page.goto("/unsubscribe/" + "A" * 32)  # the confirmation page an email's link opens (the GET changes nothing)
    assert page.inner_text("h1") == "Unsubscribe"
    check_accessibility(page)


def test_keyboard_only_sign_in_and_error_pages(context: BrowserContext, portal_system: PortalSystem) -> None:
    page = context.new_page()
    page.goto("/login")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"  # the first stop skips the menu
    page.focus("#email")
    page.keyboard.type(portal_system.email("leipzig"))
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/city")
    response = page.goto("/no-such-page")
    assert response is not None and response.status == 404 and page.inner_text("h1") == "Page not found"
    check_accessibility(page)
    page.goto("/city?overdue=true")
    check_accessibility(page)
