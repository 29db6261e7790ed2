"""The spreadsheet pages, the network page and "the same advice elsewhere" over plain HTTP (no
JavaScript, as a plain browser form), against the real services on real Kafka and PostgreSQL.
The browser journeys (a 5,000-row import with its progress bar; the network picture) are in
test_browser_sheets.py."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from tests.portal.conftest import PortalSystem, _wait_for, csrf_of, sign_in
from tests.sheetfiles import recommendation_rows, xlsx

pytestmark = pytest.mark.services
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def new_seminar(system: PortalSystem, theme: str) -> str:
    body = {"host_city": "leipzig", "theme": theme, "cluster": "leipzig-biocluster", "held_on": "2026-11-26"}
    with system.api("recommendations", system.tokens["lead"]) as rec:
        answer = rec.post("/seminars", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def drafts_of(system: PortalSystem, seminar: str) -> int:
    """The seminar's recommendations, counted through every page of the API."""
    count, offset = 0, 0
    with system.api("recommendations", system.tokens["lead"]) as rec:
        while offset is not None:
            page = rec.get("/recommendations", params={"seminar": seminar, "limit": 200, "offset": offset}).json()
            count, offset = count + len(page["items"]), page["next_offset"]
    return count


def upload_recommendations(client: httpx.Client, seminar: str, body: bytes, name: str = "recs.xlsx") -> httpx.Response:
    form = client.get("/spreadsheets/recommendations")
    assert form.status_code == 200, form.text
    return client.post(
        "/spreadsheets/recommendations",
        data={"seminar": seminar, "csrf_token": csrf_of(form.text)},
        files={"file": (name, body, XLSX)},
    )


def confirm(client: httpx.Client, preview: httpx.Response) -> httpx.Response:
    action = re.search(r'action="(/spreadsheets/uploads/[^/]+/confirm)"', preview.text)
    assert action, "the preview offers no confirm"
    return client.post(action.group(1), data={"csrf_token": csrf_of(preview.text)})


def table_rows(html: str, css_class: str) -> list[str]:
    """The text of each body row of `<table class="css_class">` (a nested table stays in its row)."""
    start = html.find(f'<table class="{css_class}">')
    assert start >= 0, f"no table.{css_class}"
    rows, depth, row_start = [], 0, None
    for tag in re.finditer(r"<(/?)(table|tr)\b", html[start:]):
        closing, name = tag.group(1) == "/", tag.group(2)
        if name == "table":
            depth += -1 if closing else 1
            if depth == 0:
                break
        elif depth == 1 and not closing:
            row_start = tag.start()
        elif depth == 1 and closing and row_start is not None:
            row = html[start + row_start : start + tag.end()]
            if "<td" in row:
                rows.append(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip())
    return rows


def test_forty_rows_with_three_errors_preview_them_then_import_forty_then_nothing_new(portal_system: PortalSystem) -> None:
    seminar = new_seminar(portal_system, f"Portal import {uuid.uuid4().hex[:6]}")
    rows = recommendation_rows(40, prefix="Portal rec")
    bad = [list(r) for r in rows]
    bad[4][2] = "economy"  # sheet row 6
    bad[16][4] = "next spring"  # sheet row 18
    bad[32][3] = "atlantis"  # sheet row 34
    with sign_in(portal_system, "lead") as client:
        preview = upload_recommendations(client, seminar, xlsx(bad))
        assert preview.status_code == 303
        page = client.get(preview.headers["location"])
        assert page.status_code == 200
        errors = table_rows(page.text, "errors")
        assert [e.split(" ")[:2] for e in errors] == [["6", "dimension"], ["18", "due_date"], ["34", "target_city"]]
        assert "economy" in errors[0] and "next spring" in errors[1] and "atlantis" in errors[2]
        assert "/confirm" not in page.text  # no confirm while the file has errors
        assert drafts_of(portal_system, seminar) == 0  # the preview wrote nothing

        fixed = client.get((preview := upload_recommendations(client, seminar, xlsx(rows))).headers["location"])
        assert "40 recommendations to create" in fixed.text and "Nothing has been written yet." in fixed.text
        assert len(table_rows(fixed.text, "rows")) == 40 and "Will be created" in table_rows(fixed.text, "rows")[0]
        priorities = {m for r in table_rows(fixed.text, "rows") for m in re.findall(r" (high|medium|low) ", r, re.IGNORECASE)}
        assert priorities == {"High", "Medium", "Low"}  # the priority's label, not its code
        assert drafts_of(portal_system, seminar) == 0
        done = confirm(client, fixed)
        assert done.status_code == 303
        result = client.get(done.headers["location"])
        assert "Import done" in result.text and "40 recommendations created" in result.text
        assert drafts_of(portal_system, seminar) == 40
        again = confirm(client, fixed)  # a second click on the same preview imports nothing twice
        assert again.status_code == 303 and drafts_of(portal_system, seminar) == 40

        same = client.get(upload_recommendations(client, seminar, xlsx(rows)).headers["location"])
        assert "0 recommendations to create" in same.text and "40 rows imported before" in same.text
        confirm(client, same)
        assert drafts_of(portal_system, seminar) == 40


def test_a_file_that_is_no_spreadsheet_is_refused_on_the_form(portal_system: PortalSystem) -> None:
    seminar = new_seminar(portal_system, f"Portal hostile {uuid.uuid4().hex[:6]}")
    with sign_in(portal_system, "lead") as client:
        answer = upload_recommendations(client, seminar, b"%PDF-1.4 not a sheet", name="report.xlsx")
        assert answer.status_code == 422
        assert "The file was refused:" in answer.text and "is not a spreadsheet we read" in answer.text
        assert drafts_of(portal_system, seminar) == 0


def test_an_upload_is_only_its_uploaders(portal_system: PortalSystem) -> None:
    seminar = new_seminar(portal_system, f"Portal private {uuid.uuid4().hex[:6]}")
    with sign_in(portal_system, "lead") as client:
        location = upload_recommendations(client, seminar, xlsx(recommendation_rows(2))).headers["location"]
    with sign_in(portal_system, "lead") as other_session:  # the same person, another browser
        assert other_session.get(location).status_code == 404
        token = csrf_of(other_session.get("/spreadsheets/recommendations").text)
        assert other_session.post(location + "/confirm", data={"csrf_token": token}).status_code == 404
    assert drafts_of(portal_system, seminar) == 0


def test_templates_download_through_the_portal(portal_system: PortalSystem) -> None:
    with sign_in(portal_system, "lead") as client:
        sheet = client.get("/spreadsheets/recommendations/template.xlsx")
        assert sheet.status_code == 200 and sheet.headers["content-type"] == XLSX
        header = [c.value for c in load_workbook(io.BytesIO(sheet.content)).worksheets[0][1]]
        assert header[:3] == ["title", "text", "dimension"]
        assert client.get("/spreadsheets/recommendations/template.csv").text.startswith("title,text,dimension")


def save_as_colleague(system: PortalSystem, followup: str, owner: str) -> None:
    """Another Leipzig official sets the owner through the follow-up form."""
    with system.api("evaluations", system.tokens["lead"]) as ev:
        current = ev.get(f"/follow-ups/{followup}")
    with sign_in(system, "leipzig2") as colleague:
        form = colleague.get(f"/follow-ups/{followup}")
        saved = colleague.post(
            f"/follow-ups/{followup}",
            data={"csrf_token": csrf_of(form.text), "etag": current.headers["etag"], "was_owner": "", "owner": owner},
        )
        assert saved.status_code == 303, saved.text


def edited(exported: bytes, edits: dict[str, dict[str, Any]]) -> bytes:
    workbook = load_workbook(io.BytesIO(exported))
    sheet = workbook.worksheets[0]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        for column, value in edits.get(str(row[0].value), {}).items():
            row[header.index(column)].value = value
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_leipzig_round_trip_previews_changes_a_refusal_and_a_conflict_then_applies(portal_system: PortalSystem) -> None:
    changed, refused, conflicting = (portal_system.fresh_followup(f"Round trip {n} {uuid.uuid4().hex[:6]}") for n in "ABC")
    with sign_in(portal_system, "leipzig") as client:
        page = client.get("/spreadsheets/follow-ups")
        assert page.status_code == 200 and "/spreadsheets/follow-ups.xlsx" in page.text
        exported = client.get("/spreadsheets/follow-ups.xlsx")
        assert exported.status_code == 200 and exported.headers["content-type"] == XLSX
        save_as_colleague(portal_system, conflicting, "Amt 32 (colleague)")  # someone saves after the export
        sheet = edited(
            exported.content,
            {
                changed: {"response": "accepted", "implementation_status": "planned", "owner": "Amt für Wirtschaft"},
                refused: {"implementation_status": "implemented"},  # not_started → implemented is no transition
                conflicting: {"owner": "Amt 32 (sheet)"},
            },
        )
        posted = client.post(
            "/spreadsheets/follow-ups",
            data={"csrf_token": csrf_of(page.text)},
            files={"file": ("follow-ups.xlsx", sheet, XLSX)},
        )
        assert posted.status_code == 303, posted.text
        preview = client.get(posted.headers["location"])
        assert "1 follow-up to change" in preview.text and "1 refused transition" in preview.text
        assert "1 conflict" in preview.text
        rows = table_rows(preview.text, "rows")
        ids = (changed, refused, conflicting)
        by_id = {fid: next(r for r in rows if f"Round trip {n} " in r) for fid, n in zip(ids, "ABC", strict=True)}
        assert "Will be changed" in by_id[changed] and "Pending → Accepted" in by_id[changed]
        assert "Not started → Planned" in by_id[changed] and "— → Amt für Wirtschaft" in by_id[changed]
        assert "Refused" in by_id[refused]  # the workflow's reason, worded from its code in the person's language
        assert "cannot go from “Not started” to “Implemented”" in by_id[refused]
        assert "Conflict: not applied" in by_id[conflicting]
        assert "Amt 32 (sheet)" in by_id[conflicting] and "Amt 32 (colleague)" in by_id[conflicting]
        with portal_system.api("evaluations", portal_system.tokens["lead"]) as ev:
            assert ev.get(f"/follow-ups/{changed}").json()["response"] == "pending"  # the preview wrote nothing

        done = confirm(client, preview)
        result = client.get(done.headers["location"])
        assert "1 follow-up changed" in result.text and "imported from a spreadsheet" in result.text
    with portal_system.api("evaluations", portal_system.tokens["lead"]) as ev:
        after = ev.get(f"/follow-ups/{changed}").json()
        assert (after["response"], after["implementation_status"], after["owner"]) == (
            "accepted",
            "planned",
            "Amt für Wirtschaft",
        )
        assert ev.get(f"/follow-ups/{refused}").json()["implementation_status"] == "not_started"
        assert ev.get(f"/follow-ups/{conflicting}").json()["owner"] == "Amt 32 (colleague)"
        history = ev.get(f"/follow-ups/{changed}/history").json()
        assert any(h["field"] == "response" and h["via"] == "imported from a spreadsheet" for h in history)


def test_network_page_draws_every_link_and_the_public_one_only_public_links(portal_system: PortalSystem) -> None:
    with portal_system.api("recommendations", portal_system.tokens["lead"]) as rec:
        everything = rec.get("/network").json()
        public = rec.get("/network", params={"public_only": "true"}).json()
    assert len(everything["edges"]) > len(public["edges"]) > 0  # the demo data has private links too
    with sign_in(portal_system, "lead") as client:
        page = client.get("/network")
    assert page.status_code == 200
    assert page.text.count('<g class="node"') == len(everything["nodes"])
    assert page.text.count('<g class="edge"') == len(everything["edges"])
    assert len(table_rows(page.text, "links")) == len(everything["edges"])
    for visitor_page in (httpx.get(portal_system.url + "/network", timeout=15), httpx.get(portal_system.url + "/", timeout=15)):
        assert visitor_page.status_code == 200
        assert visitor_page.text.count('<g class="edge"') == len(public["edges"])
        assert len(table_rows(visitor_page.text, "links")) == len(public["edges"])
        private = [e for e in everything["edges"] if not e["public"]]
        assert all(e["id"] not in visitor_page.text for e in private)


def test_followup_page_shows_the_same_advice_elsewhere(portal_system: PortalSystem) -> None:
    with portal_system.api("evaluations", portal_system.tokens["lead"]) as ev:
        leipzig = ev.get("/follow-ups", params={"city": "leipzig", "limit": 200}).json()["items"]

        def with_peers() -> tuple[str, list[dict[str, Any]]] | None:
            for f in leipzig:
                if peers := ev.get(f"/follow-ups/{f['id']}/peers").json():
                    return f["id"], peers
            return None

        followup, peers = _wait_for(with_peers, "a Leipzig follow-up with peers in the demo data")
    with sign_in(portal_system, "leipzig") as client:
        page = client.get(f"/follow-ups/{followup}")
    assert page.status_code == 200 and "The same advice elsewhere" in page.text
    rows = table_rows(page.text, "peers")
    assert len(rows) == len(peers)
    for peer, row in zip(peers, rows, strict=True):
        assert peer["city"].capitalize() in row and peer["recommendation_title"] in row
