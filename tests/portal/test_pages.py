"""The portal over HTTP (no JavaScript, as a plain browser form would), against the real services
on real Kafka and PostgreSQL: sign-in, CSRF, throttling, sessions, a city's pages, conflicts, the
public page. The browser tests (test_browser.py) do the same journeys in Chromium."""

from __future__ import annotations

import re
import time
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


def test_the_portal_reports_itself_ready_with_its_database(portal_system: PortalSystem) -> None:
    ready = httpx.get(portal_system.url + "/readyz", timeout=15)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "service": "portal"}


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


def test_an_open_live_dashboard_stream_ends_at_sign_out(portal_system: PortalSystem) -> None:
    """The live stream checks the session at every heartbeat (HEARTBEAT_S, 15 s): signed out, it ends."""
    with sign_in(portal_system, "lead") as client:
        csrf = csrf_of(client.get("/dashboard").text)
        with httpx.Client(base_url=portal_system.url, timeout=30, cookies=dict(client.cookies)) as browser_tab:
            with browser_tab.stream("GET", "/dashboard/live") as live:
                assert live.status_code == 200
                lines = live.iter_lines()
                assert next(lines) == ": connected"
                assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
                rest, deadline = [], time.monotonic() + 40
                for line in lines:  # until the server ends it; its heartbeats would hold it open for ever
                    rest.append(line)
                    if time.monotonic() > deadline:
                        break
    assert ": signed out; the stream ends" in rest


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
            assert added.headers["location"] == f"{path}?evidence=added#evidence"
        confirmed = client.get(added.headers["location"]).text
        evidence_section = confirmed.split('<section id="evidence"')[1].split("</section>")[0]
        assert "The evidence is added." in evidence_section and "Saved." not in confirmed  # where the page jumps to
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


def test_the_network_picture_speaks_the_readers_language(portal_system: PortalSystem) -> None:
    page = httpx.get(portal_system.url + "/network", headers={"Accept-Language": "de-DE"}, timeout=15)
    assert page.status_code == 200
    svg = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    assert "Verbindungen zwischen den Clustern der CLUSNET-Partnerstädte" in svg
    assert "Art (Linienmuster)" in svg and "Status (Linienfarbe)" in svg and "Gemeinsames Projekt" in svg
    assert "Kind (line pattern)" not in svg and "joint project" not in svg.lower()


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


def _leipzig_seminar(system: PortalSystem) -> dict[str, Any]:
    with system.api("recommendations", system.tokens["lead"]) as rec:
        seminar: dict[str, Any] = next(s for s in rec.get("/seminars").json()["items"] if s["host_city"] == "leipzig")
    assert seminar["status"] == "report_published"  # the demo seminars' reports are out
    return seminar


def _draft_through_the_portal(client: httpx.Client, seminar_id: str, title: str) -> str:
    page = client.get(f"/seminars/{seminar_id}")
    drafted = client.post(
        f"/seminars/{seminar_id}/recommendations",
        data={"csrf_token": csrf_of(page.text), "title": title, "text": f"{title}: the text.", "dimension": "setting"},
    )
    assert drafted.status_code == 303 and drafted.headers["location"].endswith("?done=drafted")
    found = re.search(
        rf'<a href="/recommendations/([0-9a-f-]+)">{re.escape(title)}</a>', client.get(f"/seminars/{seminar_id}").text
    )
    assert found, title
    return found.group(1)


def test_the_lead_partner_issues_a_draft_written_after_the_report(portal_system: PortalSystem) -> None:
    seminar = _leipzig_seminar(portal_system)
    path = f"/seminars/{seminar['id']}"
    with sign_in(portal_system, "lead") as lead:
        rec_id = _draft_through_the_portal(lead, seminar["id"], "Issued on its own after the report")
        page = lead.get(path + "?done=drafted").text
        assert "The report is already published: issue the draft below" in page
        assert "Cities see it once the report is published" not in page
        assert f'action="/recommendations/{rec_id}/issue"' in page  # a plain form: works without JavaScript
        issued = lead.post(f"/recommendations/{rec_id}/issue", data={"csrf_token": csrf_of(page), "back": "seminar"})
        assert issued.status_code == 303 and issued.headers["location"] == f"{path}?done=issued"
        after = lead.get(issued.headers["location"]).text
        assert "The recommendation is issued: the city sees it." in after
        assert f'action="/recommendations/{rec_id}/issue"' not in after
        again = lead.post(f"/recommendations/{rec_id}/issue", data={"csrf_token": csrf_of(after), "back": "seminar"})
        assert again.status_code == 409 and "already issued" in again.text  # the service's refusal, on the seminar page
        assert '<h2 id="recs">' in again.text

        # the same from the recommendation's own page, which it comes back to
        other = _draft_through_the_portal(lead, seminar["id"], "Issued from its own page")
        own = lead.get(f"/recommendations/{other}").text
        assert f'action="/recommendations/{other}/issue"' in own
        from_page = lead.post(f"/recommendations/{other}/issue", data={"csrf_token": csrf_of(own), "back": "recommendation"})
        assert from_page.status_code == 303 and from_page.headers["location"] == f"/recommendations/{other}?done=issue"
        assert "The recommendation is issued" in lead.get(from_page.headers["location"]).text
    with portal_system.api("recommendations", portal_system.tokens["lead"]) as rec:
        assert rec.get(f"/recommendations/{rec_id}").json()["status"] == "issued"
        assert rec.get(f"/recommendations/{other}").json()["status"] == "issued"
    with portal_system.api("evaluations", portal_system.tokens["lead"]) as ev:  # and Leipzig gets its follow-up
        _wait_for(
            lambda: any(
                f["recommendation_id"] == rec_id
                for f in ev.get("/follow-ups", params={"city": "leipzig", "limit": 200}).json()["items"]
            ),
            "the issued draft's follow-up",
        )
    with sign_in(portal_system, "leipzig") as city:
        refused = city.post(
            f"/recommendations/{rec_id}/issue", data={"csrf_token": csrf_of(city.get("/city").text), "back": "seminar"}
        )
        assert refused.status_code == 403  # the recommendations service decides: the lead partner only


def test_my_notifications_names_every_event_in_a_meaningful_order(portal_system: PortalSystem) -> None:
    with sign_in(portal_system, "leipzig") as client:
        page = client.get("/settings/notifications").text
    events = re.findall(
        r'<input type="checkbox" id="ev-([^"]+)" name="event_types" value="[^"]+"><label for="ev-[^"]+">([^<]+)</label>', page
    )
    codes = [code for code, _ in events]
    assert len(codes) == 18 and all(label != code and "." not in label for code, label in events)  # no raw code
    groups = [code.split(".")[0] for code in codes]
    assert groups == sorted(groups, key=["seminar", "recommendation", "followup", "cluster_link"].index)
    assert codes[:3] == ["seminar.scheduled", "seminar.held", "seminar.report_published"]
    assert dict(events)["cluster_link.activated"] == "A link between clusters becomes active"
    # the seminars are checkboxes too, each with its whole theme
    assert '<select id="seminars"' not in page
    assert len(re.findall(r'<input type="checkbox" id="seminar-[^"]+" name="seminars"', page)) >= 1
    assert "follow-ups and private evidence only" in page  # what reaches a city official, said on the page


def test_the_dashboard_labels_its_bars_and_orders_them_as_the_model(portal_system: PortalSystem) -> None:
    with sign_in(portal_system, "lead") as lead:
        page = lead.get("/dashboard").text
    assert re.findall(r'<tr data-dimension="(\w+)">', page) == ["setting", "objectives", "processes"]
    bar_numbers = re.findall(r'<text x="\d+" y="20" class="label">([^<]+)</text>', page)
    labels = [n for n in bar_numbers if "%" in n]
    assert len(labels) == 3 and all(re.fullmatch(r"\d+% implemented", n) for n in labels), bar_numbers
    assert not re.search(r">\d{4}-\d{2}<", page)  # months in words, not 2026-11
    assert re.search(r'class="tick middle">[A-Z][a-z]{2} \d{4}</text>', page)
    with sign_in(portal_system, "lead_fr") as lead_fr:
        french = lead_fr.get("/dashboard").text
    assert re.search(r"class=\"label\">\d+\s?%\s?mis en œuvre</text>", french)


def test_a_city_official_opening_admin_pages_reads_why_not(portal_system: PortalSystem) -> None:
    with sign_in(portal_system, "leipzig") as city:
        admin = city.get("/admin/people")
        assert admin.status_code == 403
        assert "This page is for administrators only." in admin.text and "City officials" not in admin.text
        listing = city.get("/city").text
        assert '<th scope="col">City</th>' not in listing  # their own city: named in the title, not on every row
    with sign_in(portal_system, "lead") as lead:
        assert '<th scope="col">City</th>' in lead.get("/city").text  # every city: the column says which


def test_the_admin_chooses_a_partner_city_and_an_unknown_one_is_refused(portal_system: PortalSystem) -> None:
    with sign_in(portal_system, "admin") as admin:
        people = admin.get("/admin/people")
        assert '<option value="helsinki">' in people.text and '<input id="p-city"' not in people.text
        assert '<option value="helsinki">' in admin.get("/admin/tokens").text
        form = {"csrf_token": csrf_of(people.text), "email": "x@atlantis.example", "name": "X", "role": "city_official"}
        refused = admin.post("/admin/people", data={**form, "city": "atlantis"})
        assert refused.status_code == 422 and "is not a CLUSNET partner city" in refused.text
        listed = refused.text[refused.text.index('<table id="people">') : refused.text.index("</table>")]
        assert "ada.admin@clusnet.example" in listed and "x@atlantis.example" not in listed  # nobody was added
        token = admin.post("/admin/tokens", data={"csrf_token": form["csrf_token"], "role": "city_official", "city": "atlantis"})
        assert token.status_code == 422 and "is not a CLUSNET partner city" in token.text


def test_a_refusal_reads_in_the_person_language_under_the_title(portal_system: PortalSystem) -> None:
    path = f"/follow-ups/{portal_system.fresh_followup('Refused in German')}"
    with sign_in(portal_system, "leipzig_de") as client:
        page = client.get(path)
        refused = client.post(path, data={**_form(page.text), "response": "rejected", "implementation_status": "not_started"})
    assert refused.status_code == 422
    assert "Die Antwort „Abgelehnt“ braucht eine Begründung" in refused.text  # worded from the workflow's code
    assert "needs a justification in `comment`" not in refused.text
    # under the title, before the same advice elsewhere and the form
    assert refused.text.index('id="form-error"') < refused.text.index('id="form-title"')
    assert refused.text.index("<h1>") < refused.text.index('id="form-error"')


def test_the_public_page_shows_the_seminars_a_page_at_a_time_and_every_one_on_some_page(portal_system: PortalSystem) -> None:
    """Eleven more published seminars and one whose recommendation was issued on its own (held long
    ago, so the newest-first pages keep the demo's on the first): walking "Older seminars" from the
    first page meets every seminar with a recommendation in force once, with the host city's row."""
    themes = [f"Paged seminar {n:02d}" for n in range(11)]
    with portal_system.api("recommendations", portal_system.tokens["lead"]) as rec:
        for n, theme in enumerate(themes):
            body = {"host_city": "eindhoven", "theme": theme, "cluster": "eindhoven-hightech", "held_on": f"1990-01-{n + 1:02d}"}
            seminar = rec.post("/seminars", json=body)
            assert seminar.status_code == 201, seminar.text
            path = f"/seminars/{seminar.json()['id']}"
            assert rec.post(f"{path}/hold").status_code == 200
            draft = {"title": f"Advice of {theme}", "text": "Keep going.", "dimension": "processes"}
            assert rec.post(f"{path}/recommendations", json=draft).status_code == 201
            assert rec.post(f"{path}/publish-report").status_code == 200
        # and one whose recommendation was issued on its own, its report never published
        body = {"host_city": "eindhoven", "theme": "Issued alone", "cluster": "eindhoven-hightech", "held_on": "1989-12-01"}
        alone = rec.post("/seminars", json=body).json()["id"]
        draft = rec.post(
            f"/seminars/{alone}/recommendations",
            json={"title": "Advice of Issued alone", "text": "Go.", "dimension": "processes"},
        )
        assert rec.post(f"/recommendations/{draft.json()['id']}/issue").status_code == 200
        themes.insert(0, "Issued alone")  # held first of all
        body = {"host_city": "eindhoven", "theme": "Drafts only", "cluster": "eindhoven-hightech", "held_on": "1989-11-01"}
        drafts_only = rec.post("/seminars", json=body).json()["id"]
        assert (
            rec.post(
                f"/seminars/{drafts_only}/recommendations", json={"title": "Not yet", "text": "Later.", "dimension": "processes"}
            ).status_code
            == 201
        )
        published = [s["theme"] for s in rec.get("/seminars", params={"in_force": "true", "limit": 200}).json()["items"]]
    assert "Issued alone" in published and "Paged seminar 00" in published and "Drafts only" not in published
    with portal_system.api("evaluations", portal_system.tokens["lead"]) as ev:

        def opened() -> bool:
            found = ev.get("/follow-ups", params={"city": "eindhoven", "limit": 200}).json()["items"]
            return {f"Advice of {t}" for t in themes} <= {f["recommendation_title"] for f in found}

        _wait_for(opened, "the paged seminars' follow-ups")
    seen: list[str] = []
    page: str | None = "/"
    while page is not None:
        text = httpx.get(portal_system.url + page, timeout=15).text
        seen += re.findall(r'<h2 id="seminar-[^"]+">([^<]+)</h2>', text)
        older = re.search(r'<a href="(\?page=\d+)">Older seminars</a>', text)
        page = "/" + older.group(1) if older else None
        if page is None:
            assert "Newer seminars" in text and f"of {len(published)}, the newest first" in text
    assert sorted(seen) == sorted(published) and len(seen) == len(set(seen))  # each seminar on one page, once
    assert seen[-len(themes) :] == themes[::-1]  # the newest first: these were held long ago
    last = httpx.get(portal_system.url + "/?page=99", timeout=15).text  # past the end: the last page
    assert '<th scope="row">Eindhoven</th>' in last.rsplit("Responses to: Advice of Issued alone", 1)[1]  # its city's row


def test_the_delivery_log_takes_a_page_and_has_no_negative_one(portal_system: PortalSystem) -> None:
    with sign_in(portal_system, "admin") as admin:
        assert admin.get("/admin/deliveries", params={"status": "delivered", "offset": 0}).status_code == 200
        assert admin.get("/admin/deliveries", params={"status": "delivered", "offset": 100_000}).status_code == 200
        assert admin.get("/admin/deliveries", params={"offset": -1}).status_code == 404  # the portal: no such page
