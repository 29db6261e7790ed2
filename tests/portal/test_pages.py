"""The portal over HTTP (no JavaScript, as a plain browser form would), against the real services
on real Kafka and PostgreSQL: sign-in, CSRF, throttling, sessions, a city's pages, conflicts, the
public page. The browser tests (test_browser.py) do the same journeys in Chromium."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from shared.platform.auth import ApiToken
from shared.platform.db import make_engine, make_session_factory
from tests.integration.test_evidence_files import PDF
from tests.portal.conftest import HOSTILE_TITLE, PASSWORD, PortalSystem, _wait_for, csrf_of, run_async, sign_in

pytestmark = pytest.mark.services


def test_public_page_needs_no_sign_in_and_escapes_titles(portal_system: PortalSystem) -> None:
    page = httpx.get(portal_system.url + "/", timeout=15)
    assert page.status_code == 200
    assert "What became of the CLUSNET recommendations" in page.text
    assert "Leipzig" in page.text
    assert HOSTILE_TITLE not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_unknown_email_and_wrong_password_get_the_same_answer(portal_system: PortalSystem) -> None:
    with httpx.Client(base_url=portal_system.url, timeout=15) as client:
        token = csrf_of(client.get("/login").text)
        wrong = client.post("/login", data={"email": portal_system.email("leipzig"), "password": "nope", "csrf_token": token})
        unknown = client.post("/login", data={"email": "nobody@nowhere.example", "password": "nope", "csrf_token": token})
    assert wrong.status_code == unknown.status_code == 401
    message = "The email or the password is not right."
    assert message in wrong.text and message in unknown.text
    assert "clusnet_session" not in wrong.headers.get("set-cookie", "")


def test_failed_sign_ins_are_throttled_per_account(portal_system: PortalSystem) -> None:
    with httpx.Client(base_url=portal_system.url, timeout=15) as client:
        token = csrf_of(client.get("/login").text)
        email = portal_system.email("throttled")
        for _ in range(5):
            assert client.post("/login", data={"email": email, "password": "guess", "csrf_token": token}).status_code == 401
        # even the right password is refused now, without being checked
        right = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert right.status_code == 429 and "Too many failed sign-ins" in right.text


def test_a_form_without_its_csrf_token_is_refused(portal_system: PortalSystem) -> None:
    with httpx.Client(base_url=portal_system.url, timeout=15) as client:
        client.get("/login")
        refused = client.post("/login", data={"email": portal_system.email("leipzig"), "password": PASSWORD})
        assert refused.status_code == 403 and "This form cannot be accepted" in refused.text
        forged = client.post(
            "/login", data={"email": portal_system.email("leipzig"), "password": PASSWORD, "csrf_token": "x" * 43}
        )
        assert forged.status_code == 403
    with sign_in(portal_system, "leipzig") as signed_in:
        answer = signed_in.post(f"/follow-ups/{portal_system.leipzig_followup}", data={"response": "accepted"})
        assert answer.status_code == 403


def test_session_cookie_flags(portal_system: PortalSystem) -> None:
    with httpx.Client(base_url=portal_system.url, timeout=15) as client:
        token = csrf_of(client.get("/login").text)
        answer = client.post("/login", data={"email": portal_system.email("leipzig"), "password": PASSWORD, "csrf_token": token})
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("clusnet_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # served over plain HTTP on loopback; Secure when served over HTTPS
    assert answer.headers["location"] == "/city"


def test_sign_out_makes_the_old_cookie_useless_and_revokes_the_token(portal_system: PortalSystem) -> None:
    with sign_in(portal_system, "leipzig") as client:
        old_cookie = client.cookies["clusnet_session"]
        page = client.get("/city")
        assert page.status_code == 200
        out = client.post("/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303
    with httpx.Client(base_url=portal_system.url, timeout=15, cookies={"clusnet_session": old_cookie}) as replay:
        answer = replay.get("/city")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    session_id = old_cookie.split(".")[0]
    assert session_id  # the token behind it is revoked in the auth database
    assert run_async(_portal_tokens_revoked(portal_system)) >= 1


async def _portal_tokens_revoked(system: PortalSystem) -> int:
    from sqlmodel import select

    engine = make_engine(system.env.auth_url, pool_size=1)
    try:
        async with make_session_factory(engine)() as session:
            rows = (
                await session.exec(select(ApiToken).where(ApiToken.label == "portal session of jana.vogel@leipzig.example"))
            ).all()
            return sum(1 for r in rows if r.revoked_at is not None)
    finally:
        await engine.dispose()


def test_city_official_sees_only_their_city(portal_system: PortalSystem) -> None:
    with sign_in(portal_system, "leipzig") as leipzig:
        page = leipzig.get("/city")
        assert page.status_code == 200
        assert f"/follow-ups/{portal_system.leipzig_followup}" in page.text
        assert f"/follow-ups/{portal_system.lyon_followup}" not in page.text
        assert "Lyon</td>" not in page.text
        # filters pass through to the service
        overdue_only = leipzig.get("/city", params={"overdue": "true"})
        assert overdue_only.status_code == 200
    with sign_in(portal_system, "lyon") as lyon:
        forbidden = lyon.get(f"/follow-ups/{portal_system.leipzig_followup}")
        assert forbidden.status_code == 403
        assert "Vous ne pouvez pas ouvrir cette page" in forbidden.text  # Luc reads French
        assert f"/follow-ups/{portal_system.leipzig_followup}" not in lyon.get("/city").text


def _form(html: str) -> dict[str, str]:
    """The hidden fields of the follow-up form (CSRF token, ETag, what the page showed), as a
    browser would post them."""
    form = html.split('<form method="post" action="/follow-ups/')[1].split("</form>")[0]
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    assert "csrf_token" in hidden and "etag" in hidden and "was_response" in hidden
    return {k: v.replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&") for k, v in hidden.items()}


def test_response_status_history_and_a_stale_edit(portal_system: PortalSystem) -> None:
    path = f"/follow-ups/{portal_system.fresh_followup(HOSTILE_TITLE + ' (pages)')}"
    with sign_in(portal_system, "leipzig") as first, sign_in(portal_system, "leipzig2") as second:
        page_1, page_2 = first.get(path), second.get(path)
        assert page_1.status_code == 200
        assert HOSTILE_TITLE not in page_1.text and "&lt;script&gt;" in page_1.text
        # only the transitions allowed from not_started are offered
        statuses = re.findall(r'<option value="(\w+)"', page_1.text.split('id="implementation_status"')[1].split("</select>")[0])
        assert statuses == ["not_started", "planned", "in_progress", "not_implemented", "overtaken_by_events"]
        saved = first.post(
            path,
            data={
                **_form(page_1.text),
                "response": "accepted",
                "implementation_status": "planned",
                "owner": "Jana Vogel",
                "responsible_body": "Office for Economic Development",
                "comment": "Budget agreed",
            },
        )
        assert saved.status_code == 303
        after = first.get(saved.headers["location"])
        assert "Saved." in after.text and "Office for Economic Development" in after.text
        history = after.text.split('id="history-title"')[1]
        assert "Implementation status" in history and "Planned" in history and "Budget agreed" in history

        # the second person still has the old version open: their save is not lost, it is shown beside the saved one
        stale = second.post(
            path,
            data={**_form(page_2.text), "response": "accepted", "implementation_status": "in_progress", "owner": "Max Weber"},
        )
        assert stale.status_code == 409
        assert "Someone else saved this follow-up first" in stale.text
        conflict = stale.text.split('class="conflict"')[1].split("</section>")[0]
        assert "Max Weber" in conflict and "Jana Vogel" in conflict
        assert 'value="Max Weber"' in stale.text  # the form still holds their entry
        # saving again from the conflict view applies it on top of the saved version
        retry = second.post(
            path, data={**_form(stale.text), "response": "accepted", "implementation_status": "in_progress", "owner": "Max Weber"}
        )
        assert retry.status_code == 303
        final = second.get(path).text
        assert 'value="Max Weber"' in final  # their change on top of the saved version…
        assert "Office for Economic Development" in final  # …which keeps what the first person saved
        # a save that changes nothing sends nothing: no version bump to upset a colleague
        etag_before = _form(final)["etag"]
        unchanged = second.post(
            path, data={**_form(final), "response": "accepted", "implementation_status": "in_progress", "owner": "Max Weber"}
        )
        assert unchanged.status_code == 303 and _form(second.get(path).text)["etag"] == etag_before


def test_a_refused_transition_keeps_the_form(portal_system: PortalSystem) -> None:
    path = f"/follow-ups/{portal_system.fresh_followup('Refused transition')}"
    with sign_in(portal_system, "leipzig") as client:
        page = client.get(path)
        refused = client.post(
            path, data={**_form(page.text), "response": "rejected", "implementation_status": "not_started", "notes": "keep me"}
        )
    assert refused.status_code == 422
    assert "justification" in refused.text and "keep me" in refused.text


def test_public_page_shows_public_evidence_only(portal_system: PortalSystem) -> None:
    path = f"/follow-ups/{portal_system.leipzig_followup}"
    with sign_in(portal_system, "leipzig") as client:
        for title, public in (("Council decision (public)", "on"), ("Internal budget memo", "")):
            page = client.get(path)
            added = client.post(
                f"{path}/evidence",
                data={"csrf_token": csrf_of(page.text), "title": title, "url": "https://leipzig.example/doc", "public": public},
            )
            assert added.status_code == 303, added.text
        own_view = client.get(path).text
        assert "Council decision (public)" in own_view and "Internal budget memo" in own_view
    public = httpx.get(portal_system.url + "/", timeout=15).text
    assert "Council decision (public)" in public
    assert "Internal budget memo" not in public


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [("fr-FR,fr;q=0.9", "Ce que sont devenues les recommandations CLUSNET"), ("de-DE", "Was aus den CLUSNET-Empfehlungen wurde")],
)
def test_pages_follow_the_browser_language(portal_system: PortalSystem, accept_language: str, expected: str) -> None:
    page = httpx.get(portal_system.url + "/", headers={"Accept-Language": accept_language}, timeout=15)
    assert expected in page.text
    assert f'<html lang="{accept_language[:2]}">' in page.text


def test_a_person_sees_the_portal_in_their_own_language(portal_system: PortalSystem) -> None:
    with sign_in(portal_system, "leipzig_de", **{"Accept-Language": "en"}) as client:
        page = client.get("/city")
    assert "Nachverfolgungen von Leipzig" in page.text and "Umsetzungsstand" in page.text


def test_uploaded_files_public_and_private(portal_system: PortalSystem) -> None:
    path = f"/follow-ups/{portal_system.leipzig_followup}"
    with sign_in(portal_system, "leipzig") as client:
        for title, public in (("Signed agreement", "on"), ("Cost estimate", "")):
            page = client.get(path)
            added = client.post(
                f"{path}/evidence/file",
                data={"csrf_token": csrf_of(page.text), "title": title, "public": public},
                files={"file": (f"{title}.pdf", PDF, "application/pdf")},
            )
            assert added.status_code == 303, added.text
        refused = client.post(
            f"{path}/evidence/file",
            data={"csrf_token": csrf_of(client.get(path).text), "title": "not a pdf"},
            files={"file": ("fake.pdf", b"MZ\x90\x00 an executable", "application/pdf")},
        )
        assert refused.status_code == 415 and "not an accepted type" in refused.text
        links = dict(
            re.findall(r'<a href="(/follow-ups/[^"]+/file)" hx-boost="false" download>([^<]+)</a>', client.get(path).text)
        )
        by_title = {title: link for link, title in links.items()}
        assert set(by_title) >= {"Signed agreement", "Cost estimate"}
        assert client.get(by_title["Cost estimate"]).content == PDF  # the city sees its private file
    public = httpx.get(portal_system.url + "/", timeout=15).text
    assert by_title["Signed agreement"] in public and by_title["Cost estimate"] not in public
    anonymous = httpx.get(portal_system.url + by_title["Signed agreement"], timeout=15)
    assert anonymous.status_code == 200 and anonymous.content == PDF and anonymous.headers["content-type"] == "application/pdf"
    assert httpx.get(portal_system.url + by_title["Cost estimate"], timeout=15).status_code == 404


def test_my_notifications_and_one_click_unsubscribe_through_the_portal(portal_system: PortalSystem) -> None:
    with sign_in(portal_system, "leipzig_de") as petra:
        page = petra.get("/settings/notifications")
        assert page.status_code == 200 and "Meine Benachrichtigungen" in page.text
        subscribed = petra.post(
            "/settings/notifications",
            data={
                "csrf_token": csrf_of(page.text),
                "cities": ["leipzig"],
                "event_types": ["followup.opened"],
                "mode": "immediate",
                "language": "de",
            },
        )
        assert subscribed.status_code == 303
        assert "Aktiv" in petra.get("/settings/notifications").text
    followup_id = portal_system.fresh_followup("Notify Petra")

    def petras_mail() -> Any:
        return next((m for m in portal_system.inbox.messages if m["To"] == portal_system.email("leipzig_de")), None)

    mail = _wait_for(petras_mail, "Petra's email")
    text = mail.get_body(("plain",)).get_content()
    assert text.startswith("Guten Tag Petra Schulz") and f"{portal_system.url}/follow-ups/{followup_id}" in text
    assert mail["List-Unsubscribe-Post"].strip() == "List-Unsubscribe=One-Click"
    link = mail["List-Unsubscribe"].strip()[1:-1]
    assert link.startswith(portal_system.url + "/unsubscribe/")
    # a GET (a mail scanner opening the link) changes nothing; the mail client's one-click POST does, without a cookie
    assert "Abbestellen" in httpx.get(link, headers={"Accept-Language": "de"}, timeout=15).text
    with sign_in(portal_system, "leipzig_de") as petra:
        assert "Aktiv" in petra.get("/settings/notifications").text
    done = httpx.post(
        link, content=b"List-Unsubscribe=One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=15
    )
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    with sign_in(portal_system, "leipzig_de") as petra:
        mine = petra.get("/settings/notifications").text
    assert ">Aus<" in mine and ">Aktiv<" not in mine
    assert httpx.post(portal_system.url + "/unsubscribe/" + "A" * 32, timeout=15).status_code == 404


def test_after_a_revision_the_page_shows_what_changed(portal_system: PortalSystem) -> None:
    followup_id = portal_system.fresh_followup("Open the lab to start-ups")
    with portal_system.api("evaluations", portal_system.tokens["lead"]) as ev:
        rec_id = ev.get(f"/follow-ups/{followup_id}").json()["recommendation_id"]
    with portal_system.api("recommendations", portal_system.tokens["lead"]) as rec:
        revised = rec.post(
            f"/recommendations/{rec_id}/revise",
            json={"reason": "The council asked for a narrower scope", "text": "Open the lab to biotech start-ups only."},
        )
        assert revised.status_code == 200, revised.text
    with portal_system.api("evaluations", portal_system.tokens["lead"]) as ev:
        _wait_for(lambda: ev.get(f"/follow-ups/{followup_id}").json()["recommendation_version"] == 2, "the revision")
    with sign_in(portal_system, "leipzig") as client:
        page = client.get(f"/follow-ups/{followup_id}").text
    current, before = page.split("What changed in the latest revision")
    assert "The recommendation (version 2)" in current and "Open the lab to biotech start-ups only." in current
    assert "Open the lab to start-ups: the text." in before


def test_the_lead_partner_sees_every_city_and_no_city_form(portal_system: PortalSystem) -> None:
    with sign_in(portal_system, "lead") as lead:
        listing = lead.get("/city").text
        assert (
            f"/follow-ups/{portal_system.leipzig_followup}" in listing and f"/follow-ups/{portal_system.lyon_followup}" in listing
        )
        page = lead.get(f"/follow-ups/{portal_system.lyon_followup}")
    assert page.status_code == 200 and 'id="implementation_status"' not in page.text  # only the city records its follow-up
