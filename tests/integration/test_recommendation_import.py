"""Importing a seminar's recommendations from real XLSX and CSV files, on real Kafka and PostgreSQL:
preview, all-or-nothing import, re-import creating nothing, the 5,000-row job, hostile files."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.recommendations.config import Settings
from services.recommendations.main import create_app
from services.recommendations.seed import load_demo_data
from shared.platform.db import make_engine
from shared.platform.sheets import MAX_CELL_CHARS, read_table
from tests.sheetfiles import csv_file, formula_xlsx, recommendation_rows, xlsx, zip_bomb
from tests.support import Env, eventually, running

pytestmark = pytest.mark.services
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def new_seminar(lead: httpx.AsyncClient) -> str:
    body = {"host_city": "leipzig", "theme": "Biotech in Leipzig", "cluster": "leipzig-biocluster", "held_on": "2026-11-26"}
    answer = await lead.post("/seminars", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def upload(
    lead: httpx.AsyncClient, seminar: str, body: bytes, name: str = "recs.xlsx", dry_run: bool = False
) -> httpx.Response:
    media = XLSX if name.endswith("xlsx") else "text/csv"
    return await lead.post(
        f"/seminars/{seminar}/recommendations/import",
        params={"dry_run": str(dry_run).lower()},
        files={"file": (name, body, media)},
    )


async def stored(settings: Settings, seminar: str) -> int:
    engine = make_engine(settings.database_url, pool_size=1)
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM recommendation WHERE seminar_id = :s"), {"s": seminar})).scalar()
    await engine.dispose()
    return int(count or 0)


async def test_forty_rows_preview_three_errors_then_import_forty_then_nothing_new(env: Env) -> None:
    settings = env.settings(Settings)
    await load_demo_data(settings)
    app = create_app(settings)
    rows = recommendation_rows(40)
    bad = [list(r) for r in rows]
    bad[4][2] = "economy"  # sheet row 6: no such dimension
    bad[16][4] = "next spring"  # sheet row 18: not a date
    bad[32][3] = "atlantis"  # sheet row 34: not a partner city
    async with running(app), await env.client(app, "lead_partner") as lead:
        seminar = await new_seminar(lead)
        preview = await upload(lead, seminar, xlsx(bad), dry_run=True)
        assert preview.status_code == 200, preview.text
        assert [(e["row"], e["column"]) for e in preview.json()["errors"]] == [
            (6, "dimension"),
            (18, "due_date"),
            (34, "target_city"),
        ]
        assert all(e["detail"] for e in preview.json()["errors"])
        assert len(preview.json()["rows"]) == 37 and {r["action"] for r in preview.json()["rows"]} == {"create"}
        assert await stored(settings, seminar) == 0  # the preview wrote nothing

        refused = await upload(lead, seminar, xlsx(bad))
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
        assert "nothing was imported" in refused.json()["detail"] and len(refused.json()["errors"]) == 3
        assert await stored(settings, seminar) == 0  # all or nothing

        imported = await upload(lead, seminar, xlsx(rows))
        assert imported.status_code == 200, imported.text
        assert imported.json()["created"] == 40 and imported.json()["errors"] == []
        drafts = (await lead.get("/recommendations", params={"seminar": seminar, "limit": 100})).json()["items"]
        assert len(drafts) == 40 and {d["status"] for d in drafts} == {"draft"}
        assert {d["title"] for d in drafts} == {r[0] for r in rows}
        history = (await lead.get(f"/recommendations/{drafts[0]['id']}/history")).json()
        assert [(h["action"], h["reason"]) for h in history] == [("drafted", "imported from a spreadsheet")]

        again = await upload(lead, seminar, xlsx(rows))
        assert again.json()["created"] == 0 and again.json()["unchanged"] == 40
        as_csv = await upload(lead, seminar, csv_file(rows), name="recs.csv")  # the same rows in CSV: same keys
        assert as_csv.json()["created"] == 0 and {r["action"] for r in as_csv.json()["rows"]} == {"exists"}
        assert await stored(settings, seminar) == 40


async def test_templates_are_importable_as_they_come(env: Env) -> None:
    settings = env.settings(Settings)
    await load_demo_data(settings)
    app = create_app(settings)
    async with running(app), await env.client(app, "lead_partner") as lead:
        seminar = await new_seminar(lead)
        for name in ("recommendations.xlsx", "recommendations.csv"):
            template = await lead.get(f"/templates/{name}")
            assert template.status_code == 200 and name in template.headers["content-disposition"]
            assert read_table(template.content).header[:3] == ["title", "text", "dimension"]
            preview = await upload(lead, seminar, template.content, name=name, dry_run=True)
            assert preview.json()["errors"] == [] and len(preview.json()["rows"]) == 1, preview.text


async def test_five_thousand_rows_import_as_a_polled_job(env: Env) -> None:
    settings = env.settings(Settings)
    await load_demo_data(settings)
    app = create_app(settings)
    async with running(app), await env.client(app, "lead_partner") as lead:
        seminar = await new_seminar(lead)
        accepted = await upload(lead, seminar, xlsx(recommendation_rows(5_000)))
        assert accepted.status_code == 202, accepted.text
        job = accepted.json()
        assert accepted.headers["location"] == job["url"] == f"/import-jobs/{job['id']}"
        assert job["status"] in ("queued", "running") and job["total"] == 5_000
        seen: list[dict[str, Any]] = []

        async def finished() -> dict[str, Any] | None:
            seen.append((await lead.get(job["url"])).json())
            return seen[-1] if seen[-1]["status"] in ("done", "failed") else None

        done = await eventually(finished, timeout=120, what="the import job")
        assert done["status"] == "done", done
        assert done["progress"] == 1.0 and done["result"]["created"] == 5_000 and done["result"]["errors"] == []
        assert all(0 <= s["progress"] <= 1 for s in seen)
        assert await stored(settings, seminar) == 5_000
        assert (await lead.get(f"/import-jobs/{seminar}")).status_code == 404


async def test_hostile_files_are_refused_with_a_reason_and_nothing_written(env: Env) -> None:
    settings = env.settings(Settings)
    await load_demo_data(settings)
    app = create_app(settings)
    hostile = {
        "not a spreadsheet": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "recs.xlsx", "not a spreadsheet"),
        "zip bomb": (zip_bomb(), "recs.xlsx", "zip bomb"),
        "100,000 rows": (xlsx([[i] for i in range(100_000)], ["title"]), "recs.xlsx", "more than 10,000 data rows"),
        "formulas": (formula_xlsx(), "recs.xlsx", "cell B2 holds a formula"),
        "huge cell": (csv_file([["t", "x" * (MAX_CELL_CHARS + 1), "setting"]]), "recs.csv", "row 2, column text"),
        "foreign columns": (csv_file([["a", "b"]], ["name", "body"]), "recs.csv", "missing column(s): title, text, dimension"),
    }
    async with running(app), await env.client(app, "lead_partner") as lead:
        seminar = await new_seminar(lead)
        for what, (body, name, says) in hostile.items():
            for dry_run in (True, False):
                answer = await upload(lead, seminar, body, name=name, dry_run=dry_run)
                assert answer.status_code == 422, (what, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"
                assert says in answer.json()["detail"], (what, answer.json())
        too_big = await upload(lead, seminar, b"title,text,dimension\n" + b"t,x,setting\n" * 100_000, name="recs.csv")
        assert too_big.status_code == 413 and "limited to" in too_big.json()["detail"]
        assert await stored(settings, seminar) == 0
