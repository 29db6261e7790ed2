"""A Leipzig official's follow-ups through Excel and back, on real Kafka and PostgreSQL: the export,
the preview (changes, a refused transition, a conflict), and an upload whose history and events
are those of the same changes saved one by one through the form (PATCH)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from services.evaluations.config import Settings
from services.evaluations.main import create_app
from tests.factories import issued
from tests.sheetfiles import csv_file
from tests.support import Env, eventually, produce, read_topic, running

pytestmark = pytest.mark.services
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
INJECTION = "=cmd|' /C calc'!A0"


def change(i: int) -> dict[str, Any]:
    return {
        "response": "accepted",
        "implementation_status": "planned",
        "owner": f"Office {i}",
        "planned_completion": f"2031-01-0{i + 1}",
    }


async def open_followups(env: Env, lead: httpx.AsyncClient, titles: list[str]) -> dict[str, dict[str, Any]]:
    await produce(env.kafka, env.topic("recommendations"), [issued(uuid.uuid4(), title=t).to_kafka() for t in titles])

    async def all_open() -> list[dict[str, Any]] | None:
        items = (await lead.get("/follow-ups", params={"city": "leipzig", "limit": 100})).json()["items"]
        return items if len(items) == len(titles) else None

    return {f["recommendation_title"]: f for f in await eventually(all_open, what="the follow-ups")}


async def upload(official: httpx.AsyncClient, body: bytes, dry_run: bool) -> httpx.Response:
    return await official.post(
        "/follow-ups/import", params={"dry_run": str(dry_run).lower()}, files={"file": ("follow-ups.xlsx", body, XLSX)}
    )


def edited_sheet(exported: bytes, edits: dict[str, dict[str, Any]]) -> bytes:
    """The exported workbook with `edits` ({follow-up id: {column: value}}) typed into it."""
    workbook = load_workbook(io.BytesIO(exported))
    sheet = workbook.worksheets[0]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        for column, value in edits.get(str(row[0].value), {}).items():
            row[header.index(column)].value = value
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def history_view(history: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (h["field"], h["old"], h["new"], h["comment"], h["actor_id"]) for h in history if h["field"] not in ("opened", "due_date")
    ]


async def test_leipzig_round_trip_matches_five_form_saves(env: Env) -> None:
    app = create_app(env.settings(Settings))
    titles = [f"Sheet {i}" for i in range(7)] + [f"Form {i}" for i in range(5)] + [INJECTION]
    async with (
        running(app),
        await env.client(app, "lead_partner") as lead,
        await env.client(app, "city_official", "leipzig") as official,
    ):
        found = await open_followups(env, lead, titles)
        sheet_ids = [found[f"Sheet {i}"]["id"] for i in range(7)]

        exported = await official.get("/follow-ups.xlsx")
        assert exported.status_code == 200 and exported.headers["content-type"] == XLSX
        sheet = load_workbook(io.BytesIO(exported.content)).worksheets[0]
        header = [c.value for c in sheet[1]]
        assert header[:2] == ["id", "version"] and "implementation_status" in header
        cells = {row[0].value: [c.value for c in row] for row in sheet.iter_rows(min_row=2)}
        assert len(cells) == len(titles) and all(c[1] == 1 for c in cells.values())
        assert cells[found[INJECTION]["id"]][3] == "'" + INJECTION  # formula injection neutralised
        assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
        exported_csv = list(csv.DictReader(io.StringIO((await official.get("/follow-ups.csv")).text)))
        assert {r["recommendation_title"] for r in exported_csv} >= {"'" + INJECTION}

        # Sheet 6 changed by someone else after the export: its row is a conflict.
        url = f"/follow-ups/{sheet_ids[6]}"
        etag = (await official.get(url)).headers["etag"]
        assert (await official.patch(url, json={"owner": "Frau Schmidt"}, headers={"If-Match": etag})).status_code == 200

        edits: dict[str, dict[str, Any]] = {sheet_ids[i]: {**change(i), "comment": "agreed in council"} for i in range(5)}
        edits[sheet_ids[5]] = {"implementation_status": "implemented"}  # not_started → implemented is refused
        edits[sheet_ids[6]] = {"owner": "Herr Müller"}
        body = edited_sheet(exported.content, edits)

        preview = await upload(official, body, dry_run=True)
        assert preview.status_code == 200, preview.text
        plans = {r["id"]: r for r in preview.json()["rows"]}
        assert preview.json()["counts"] == {"change": 5, "unchanged": len(titles) - 7, "refused": 1, "conflict": 1}
        assert plans[sheet_ids[0]]["changes"]["implementation_status"] == {"before": "not_started", "after": "planned"}
        assert "cannot go from not_started to implemented" in plans[sheet_ids[5]]["reason"]
        assert plans[sheet_ids[6]]["sheet"] == {"owner": "Herr Müller"} and plans[sheet_ids[6]]["current"] == {
            "owner": "Frau Schmidt"
        }
        assert (await official.get(f"/follow-ups/{sheet_ids[0]}")).json()["version"] == 1  # the preview applied nothing

        applied = await upload(official, body, dry_run=False)
        assert applied.status_code == 200, applied.text
        assert applied.json()["counts"] == {"applied": 5, "unchanged": len(titles) - 7, "refused": 1, "conflict": 1}

        # The same five changes, saved through the form one by one.
        form_ids = [found[f"Form {i}"]["id"] for i in range(5)]
        for i, followup_id in enumerate(form_ids):
            form_etag = (await official.get(f"/follow-ups/{followup_id}")).headers["etag"]
            saved = await official.patch(
                f"/follow-ups/{followup_id}", json={**change(i), "comment": "agreed in council"}, headers={"If-Match": form_etag}
            )
            assert saved.status_code == 200, saved.text

        for sheet_id, form_id in zip(sheet_ids[:5], form_ids, strict=True):
            by_sheet = (await official.get(f"/follow-ups/{sheet_id}/history")).json()
            by_form = (await official.get(f"/follow-ups/{form_id}/history")).json()
            assert history_view(by_sheet) == history_view(by_form) and len(history_view(by_sheet)) == 4
            assert {h["via"] for h in by_sheet if h["field"] not in ("opened", "due_date")} == {"imported from a spreadsheet"}
            assert {h["via"] for h in by_form} == {None}
            sheet_now = (await official.get(f"/follow-ups/{sheet_id}")).json()
            form_now = (await official.get(f"/follow-ups/{form_id}")).json()
            for name in ("response", "implementation_status", "owner", "planned_completion", "version"):
                assert sheet_now[name] == form_now[name]
        for untouched in (sheet_ids[5], sheet_ids[6]):
            assert (await official.get(f"/follow-ups/{untouched}/history")).json()[-1]["via"] is None

        # events: one opened per follow-up, then a response and a status event per change (5 by sheet, 5 by form)
        records = await read_topic(env.kafka, env.topic("evaluations"), len(titles) + 20)
    events: dict[str, list[tuple[str, Any]]] = {}
    for r in records:
        headers = dict(r.headers)
        payload = json.loads(r.value)
        events.setdefault(headers["ce_subject"].decode(), []).append((headers["ce_type"].decode(), payload.get("change")))
    for sheet_id, form_id in zip(sheet_ids[:5], form_ids, strict=True):
        assert events[sheet_id] == events[form_id] and len(events[sheet_id]) == 3  # opened, response, status
    assert [t for t, _ in events[sheet_ids[5]]] == ["eu.clusnet.followup.opened.v1"]


async def test_follow_up_uploads_refuse_bad_rows_and_other_cities(env: Env) -> None:
    app = create_app(env.settings(Settings))
    async with (
        running(app),
        await env.client(app, "lead_partner") as lead,
        await env.client(app, "city_official", "leipzig") as official,
    ):
        found = await open_followups(env, lead, ["Only one"])
        followup = found["Only one"]
        header = ["id", "version", "implementation_status"]
        bad = csv_file([[followup["id"], "1", "finished"], [str(uuid.uuid4()), "1", "planned"], ["x", "1", "planned"]], header)
        for dry_run in (True, False):
            answer = await official.post(
                "/follow-ups/import", params={"dry_run": str(dry_run).lower()}, files={"file": ("f.csv", bad, "text/csv")}
            )
            errors = answer.json()["errors"]
            assert [(e["row"], e["column"]) for e in errors] == [(2, "implementation_status"), (3, "id"), (4, "id")], answer.text
            assert answer.status_code == (200 if dry_run else 422)
        assert (await official.get(f"/follow-ups/{followup['id']}")).json()["version"] == 1
        async with await env.client(app, "city_official", "lyon") as lyon:
            good = csv_file([[followup["id"], "1", "planned"]], header)
            answer = await lyon.post("/follow-ups/import", files={"file": ("f.csv", good, "text/csv")})
            assert answer.status_code == 422 and "of your city" in answer.json()["errors"][0]["detail"]
        assert (await lead.post("/follow-ups/import", files={"file": ("f.csv", bad, "text/csv")})).status_code == 403
