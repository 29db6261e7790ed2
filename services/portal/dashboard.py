"""The lead partner's dashboard: the city x seminar matrix, progress by dimension, the share
implemented over time, the overdue list, as of any past day; its exports; its live updates.

Thin routes: the numbers come from evaluations (`/progress`, `/progress/cells`,
`/progress/timeline`, all read as the signed-in person, so a city official sees their city's),
the drawing from charts.py, the spreadsheets from shared/platform/sheets.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response, StreamingResponse

from services.portal import charts, service, views, visits
from services.portal.web import SESSION_COOKIE, PortalDbDep, PortalState, StateDep, Visitor, VisitorDep, render, with_headers
from shared.platform.sheets import XLSX_MEDIA_TYPE, write_csv, write_xlsx

router = APIRouter(include_in_schema=False)
HEARTBEAT_S = 15.0  # a comment line keeps proxies from closing a quiet stream
LISTED = 50  # rows of the dashboard's lists (the longest overdue, the latest changes): 5,595 overdue made a 3 MB page


async def _progress(state: PortalState, who: Visitor, as_of: date | None) -> dict[str, Any]:
    bearer = who.bearer
    day = {"as_of": as_of.isoformat()} if as_of else {}
    by_dimension, cells, timeline = await asyncio.gather(
        state.services.get(bearer, "evaluations", "/progress", by="dimension", **day),
        state.services.get(bearer, "evaluations", "/progress/cells", **day),
        state.services.get(bearer, "evaluations", "/progress/timeline"),
    )
    return {"by_dimension": by_dimension, "cells": cells, "timeline": timeline}


@router.get("/dashboard")
async def dashboard(request: Request, state: StateDep, db: PortalDbDep, who: VisitorDep, as_of: date | None = None) -> Response:
    today = datetime.now(UTC).date()
    if as_of is not None and as_of >= today:
        as_of = None  # today (or a future day) is the live view
    found = await _progress(state, who, as_of)
    since, changed = None, []
    if as_of is None:  # "changed since my last visit" belongs to the live view
        opening = request.headers.get("hx-trigger") != "dashboard-live"  # a live refresh is no new visit
        since = await visits.last_visit(db, who.require_signed_in().session.person_id, opening=opening)
        if since is not None:
            changed = await state.services.all_items(who.bearer, "evaluations", "/follow-ups", updated_since=since.isoformat())
    return render(
        request,
        who,
        "dashboard.html",
        as_of=found["cells"]["as_of"],
        past=as_of is not None,
        today=today.isoformat(),
        matrix=charts.matrix(found["cells"]["cells"]),
        bars=charts.bars(found["by_dimension"]["groups"]),
        bar_width=charts.BAR_WIDTH,
        overdue=found["by_dimension"]["overdue"],
        listed=LISTED,
        line=charts.line(found["timeline"]["points"]),
        statuses=charts.STATUSES,
        updated=datetime.now(UTC),
        since=since,
        changed=sorted(changed, key=lambda f: f["updated_at"], reverse=True),
    )


async def _export(state: PortalState, who: Visitor, as_of: date | None) -> tuple[str, list[list[Any]]]:
    # Each cell with its recommendation's current text (evaluations keeps it): reading every
    # follow-up for the texts was half the lead partner's export at a programme's scale.
    day = {"as_of": as_of.isoformat()} if as_of else {}
    cells = await state.services.get(who.bearer, "evaluations", "/progress/cells", with_text="true", **day)
    return cells["as_of"], charts.export_rows(cells["as_of"], cells["cells"])


@router.get("/dashboard.csv")
async def dashboard_csv(request: Request, state: StateDep, who: VisitorDep, as_of: date | None = None) -> Response:
    day, rows = await _export(state, who, as_of)
    answer = Response(
        write_csv(charts.EXPORT_COLUMNS, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="clusnet-follow-ups-{day}.csv"'},
    )
    return with_headers(request, answer, who)


@router.get("/dashboard.xlsx")
async def dashboard_xlsx(request: Request, state: StateDep, who: VisitorDep, as_of: date | None = None) -> Response:
    day, rows = await _export(state, who, as_of)
    # openpyxl is seconds of CPU for thousands of rows: off the event loop, as the imports read theirs
    body = await asyncio.to_thread(write_xlsx, charts.EXPORT_COLUMNS, rows, title="Follow-ups")
    answer = Response(
        body,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="clusnet-follow-ups-{day}.xlsx"'},
    )
    return with_headers(request, answer, who)


@router.get("/dashboard/live")
async def dashboard_live(request: Request, state: StateDep, who: VisitorDep) -> Response:
    """Server-sent events: `followup` (data: the follow-up's id) whenever one changes; the page
    then fetches its fresh matrix once (htmx `sse:followup`). Signed-in people only, for as long as
    they are: the session is checked again at every heartbeat, and the stream ends once it is over
    (signed out, expired), as the next page would be refused."""
    who.require_signed_in()
    cookie = request.cookies.get(SESSION_COOKIE, "")[:200]

    async def signed_in() -> bool:
        async with state.sessions() as db:
            return await service.recognise(db, state.auth_sessions, state.settings, cookie, touch=False) is not None

    async def stream() -> AsyncIterator[str]:
        async with state.live.listen() as queue:
            yield ": connected\n\n"
            checked = time.monotonic()
            while not await request.is_disconnected():
                if time.monotonic() - checked >= HEARTBEAT_S:  # however busy the stream is
                    if not await signed_in():
                        yield ": signed out; the stream ends\n\n"
                        return
                    checked = time.monotonic()
                try:
                    notice = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
                except TimeoutError:
                    yield ": still here\n\n"
                    continue
                yield f"event: followup\ndata: {notice.followup_id}\n\n"

    answer = StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})
    return with_headers(request, answer, who)


@router.get("/reports/{city}")
async def city_report(
    request: Request, state: StateDep, who: VisitorDep, city: Annotated[str, Path(pattern=r"^[a-z0-9-]{1,64}$")]
) -> Response:
    """One city's follow-ups with each recommendation's full text, as a page that prints well
    (print stylesheet: no navigation, no links' colours, a page break between seminars)."""
    seminars, followups = await asyncio.gather(
        state.services.all_items(who.bearer, "recommendations", "/seminars"),
        state.services.all_items(who.bearer, "evaluations", "/follow-ups", city=city),
    )
    groups = views.group_by_seminar(followups, {s["id"]: s for s in seminars})
    return render(request, who, "report.html", city=city, groups=groups, printed=datetime.now(UTC))
