"""Spreadsheets in and out (docs/spreadsheets.md): the lead partner imports a seminar's
recommendations from a sheet; a city exports its follow-ups, edits them offline and uploads them.

Thin routes. Each upload is previewed by the owning service (`?dry_run=true`, which writes
nothing), held by the portal with its preview (service.hold_upload) and sent again, the very same
bytes, only when the person confirms. The services decide every row; a large import becomes a job
of the recommendations service, whose progress the job page polls.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response

from services.portal import service, sheet_views
from services.portal.clients import ServiceRefused
from services.portal.models import HeldUpload
from services.portal.web import PortalDbDep, StateDep, Visitor, VisitorDep, redirect, render

router = APIRouter(include_in_schema=False)
CsrfForm = Annotated[str, Form(max_length=100)]
SHEET_TYPES = ".xlsx,.csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,text/csv"
# A sheet's own refusals (not a spreadsheet, too large, a formula, a wrong column…): shown on the page.
FILE_REFUSALS = (400, 409, 413, 415, 422)


async def _read(state: StateDep, file: UploadFile) -> tuple[str, bytes]:
    return (file.filename or "sheet.xlsx")[:200], await file.read(state.settings.upload_max_bytes + 1)


def _sheet(name: str, content: bytes) -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, content, "application/octet-stream")}


async def _download(state: StateDep, who: Visitor, service_name: str, path: str, **params: Any) -> Response:
    """A file from a service, passed on as the service named it."""
    clean = {k: v for k, v in params.items() if v}
    answer = await state.services.call(who.bearer, service_name, "GET", path, params=clean)
    passed = ("content-type", "content-disposition")
    response = Response(answer.content, headers={k: v for k, v in answer.headers.items() if k.lower() in passed})
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- a seminar's recommendations (lead partner) -------------------------------------------------
async def _recommendations_form(
    request: Request, state: StateDep, who: Visitor, *, status_code: int = 200, error: str | None = None, seminar: str = ""
) -> Response:
    seminars = await state.services.all_items(who.bearer, "recommendations", "/seminars")
    return render(
        request,
        who,
        "sheets_recommendations.html",
        status_code=status_code,
        seminars=sorted(seminars, key=lambda s: s["held_on"]),
        chosen=seminar,
        error=error,
        accept=SHEET_TYPES,
    )


@router.get("/spreadsheets/recommendations")
async def recommendations_form(request: Request, state: StateDep, who: VisitorDep, seminar: str = "") -> Response:
    return await _recommendations_form(request, state, who, seminar=seminar[:40])


@router.get("/spreadsheets/recommendations/template.{fmt}")
async def recommendations_template(
    state: StateDep, who: VisitorDep, fmt: Annotated[str, Path(pattern="^(xlsx|csv)$")]
) -> Response:
    return await _download(state, who, "recommendations", f"/templates/recommendations.{fmt}")


@router.post("/spreadsheets/recommendations")
async def preview_recommendations(
    request: Request,
    state: StateDep,
    db: PortalDbDep,
    who: VisitorDep,
    file: Annotated[UploadFile, File()],
    seminar: Annotated[uuid.UUID, Form()],
    csrf_token: CsrfForm = "",
) -> Response:
    """The service previews the sheet (nothing written); the portal holds it until the confirm."""
    who.check_csrf(csrf_token)
    name, content = await _read(state, file)
    path = f"/seminars/{seminar}/recommendations/import"
    try:
        answer = await state.services.call(
            who.bearer, "recommendations", "POST", path, params={"dry_run": "true"}, files=_sheet(name, content)
        )
    except ServiceRefused as refused:
        if refused.status in FILE_REFUSALS:
            return await _recommendations_form(
                request, state, who, status_code=refused.status, error=refused.detail, seminar=str(seminar)
            )
        raise
    held = await service.hold_upload(
        db,
        who.require_signed_in(),
        kind="recommendations",
        seminar_id=seminar,
        file_name=name,
        content=content,
        preview=sheet_views.kept_preview(answer.json()),
    )
    return redirect(request, who, f"/spreadsheets/uploads/{held.id}")


# --- a city's follow-ups (the city's officials) ------------------------------------------------
async def _followups_form(request: Request, who: Visitor, *, status_code: int = 200, error: str | None = None) -> Response:
    who.require_signed_in()
    return render(request, who, "sheets_followups.html", status_code=status_code, error=error, accept=SHEET_TYPES)


@router.get("/spreadsheets/follow-ups")
async def followups_form(request: Request, who: VisitorDep) -> Response:
    return await _followups_form(request, who)


@router.get("/spreadsheets/follow-ups.xlsx")
async def followups_export(state: StateDep, who: VisitorDep) -> Response:
    """The city's follow-ups with their version column (evaluations scopes an official to their city)."""
    return await _download(state, who, "evaluations", "/follow-ups.xlsx")


@router.post("/spreadsheets/follow-ups")
async def preview_followups(
    request: Request,
    state: StateDep,
    db: PortalDbDep,
    who: VisitorDep,
    file: Annotated[UploadFile, File()],
    csrf_token: CsrfForm = "",
) -> Response:
    who.check_csrf(csrf_token)
    name, content = await _read(state, file)
    try:
        answer = await state.services.call(
            who.bearer, "evaluations", "POST", "/follow-ups/import", params={"dry_run": "true"}, files=_sheet(name, content)
        )
    except ServiceRefused as refused:
        if refused.status in FILE_REFUSALS:
            return await _followups_form(request, who, status_code=refused.status, error=refused.detail)
        raise
    held = await service.hold_upload(
        db,
        who.require_signed_in(),
        kind="follow-ups",
        seminar_id=None,
        file_name=name,
        content=content,
        preview=sheet_views.kept_preview(answer.json()),
    )
    return redirect(request, who, f"/spreadsheets/uploads/{held.id}")


# --- a held upload: its preview, the confirm, its result ---------------------------------------
async def _held(db: PortalDbDep, who: Visitor, upload_id: uuid.UUID) -> HeldUpload:
    held = await service.held_upload(db, who.require_signed_in(), upload_id)
    if held is None:
        raise ServiceRefused(404, "no such upload")
    return held


async def _upload_page(
    request: Request,
    state: StateDep,
    who: Visitor,
    held: HeldUpload,
    *,
    page: int = 1,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    shown = held.result if held.result and "rows" in held.result else held.preview
    rows, page, pages = sheet_views.rows_page(shown, page)
    titles: dict[str, str] = {}
    if held.kind == "follow-ups":  # a row names its follow-up by id: show the recommendation's title
        followups = await state.services.all_items(who.bearer, "evaluations", "/follow-ups")
        titles = {f["id"]: f["recommendation_title"] for f in followups}
    return render(
        request,
        who,
        "sheets_upload.html",
        status_code=status_code,
        upload=held,
        shown=shown,
        confirmed=held.result is not None,
        counts=sheet_views.counts(shown),
        rows=rows,
        page=page,
        pages=pages,
        per_page=sheet_views.ROWS_PER_PAGE,
        total_rows=len(shown.get("rows", [])),
        errors=shown.get("errors", []),
        error=error,
        titles=titles,
        views=sheet_views,
    )


@router.get("/spreadsheets/uploads/{upload_id}")
async def upload_page(
    request: Request,
    state: StateDep,
    db: PortalDbDep,
    who: VisitorDep,
    upload_id: uuid.UUID,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    held = await _held(db, who, upload_id)
    if held.result and "job_id" in held.result:
        return redirect(request, who, f"/spreadsheets/jobs/{held.result['job_id']}")
    return await _upload_page(request, state, who, held, page=page)


@router.post("/spreadsheets/uploads/{upload_id}/confirm")
async def confirm_upload(
    request: Request, state: StateDep, db: PortalDbDep, who: VisitorDep, upload_id: uuid.UUID, csrf_token: CsrfForm = ""
) -> Response:
    """Send the held file for real. All or nothing for recommendations (a large file becomes a job);
    row by row for follow-ups, through the same rules as a form save."""
    who.check_csrf(csrf_token)
    held = await _held(db, who, upload_id)
    if held.result is not None:  # confirmed already (a double click, a reload): nothing twice
        return redirect(request, who, f"/spreadsheets/uploads/{upload_id}")
    if held.kind == "recommendations":
        service_name, path = "recommendations", f"/seminars/{held.seminar_id}/recommendations/import"
    else:
        service_name, path = "evaluations", "/follow-ups/import"
    try:
        answer = await state.services.call(who.bearer, service_name, "POST", path, files=_sheet(held.file_name, held.content))
    except ServiceRefused as refused:
        if refused.status in FILE_REFUSALS:
            if errors := refused.body.get("errors"):
                held.preview = {**held.preview, "errors": errors}
            return await _upload_page(request, state, who, held, status_code=refused.status, error=refused.detail)
        raise
    body = answer.json()
    if answer.status_code == 202:  # a large file: the service works it as a job
        await service.upload_confirmed(db, held, {"job_id": body["id"]})
        return redirect(request, who, f"/spreadsheets/jobs/{body['id']}")
    await service.upload_confirmed(db, held, sheet_views.kept_preview(body))
    return redirect(request, who, f"/spreadsheets/uploads/{upload_id}")


@router.get("/spreadsheets/jobs/{job_id}")
async def job_page(request: Request, state: StateDep, who: VisitorDep, job_id: uuid.UUID) -> Response:
    """A background import's progress (the page polls itself while it runs) and then its result."""
    job = await state.services.get(who.bearer, "recommendations", f"/import-jobs/{job_id}")
    return render(request, who, "sheets_job.html", job=job, percent=sheet_views.job_percent(job))
