"""The lead partner's seminars and recommendations: schedule a seminar, draft its
recommendations, mark it held, publish the report (every draft issued at once), issue a draft
drafted after the report one by one, revise with a reason (the page shows what changed between versions), withdraw with a reason.

Thin routes over the recommendations service, which decides what may happen (a refusal is shown
as it worded it, on the page the person was on) and answers 403 to anyone but the lead partner.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from services.portal import revisions, views
from services.portal.clients import ServiceRefused
from services.portal.web import PortalState, StateDep, Visitor, VisitorDep, redirect, render
from shared.contracts.common import Dimension

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str, Form(max_length=100)]
Short = Annotated[str, Form(max_length=300)]
Long = Annotated[str, Form(max_length=20_000)]
DIMENSIONS = tuple(Dimension)  # the Cluster Initiative Model's, in its order (the draft form)


async def _seminars_page(
    request: Request,
    state: PortalState,
    who: Visitor,
    *,
    status_code: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    bearer = who.bearer
    seminars, partners, clusters = await asyncio.gather(
        state.services.all_items(bearer, "recommendations", "/seminars"),
        state.services.all_items(bearer, "recommendations", "/partners"),
        state.services.all_items(bearer, "recommendations", "/clusters"),
    )
    return render(
        request,
        who,
        "seminars.html",
        status_code=status_code,
        seminars=sorted(seminars, key=lambda s: s["held_on"], reverse=True),
        cities=views.partner_cities(partners),
        clusters=clusters,
        error=error,
        form=form or {},
    )


@router.get("/seminars")
async def seminars_page(request: Request, state: StateDep, who: VisitorDep) -> Response:
    return await _seminars_page(request, state, who)


@router.post("/seminars")
async def schedule_seminar(
    request: Request,
    state: StateDep,
    who: VisitorDep,
    csrf_token: Csrf = "",
    host_city: Short = "",
    theme: Short = "",
    cluster: Short = "",
    held_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    who.check_csrf(csrf_token)
    form = {"host_city": host_city, "theme": theme, "cluster": cluster, "held_on": held_on}
    try:
        created = await state.services.call(who.bearer, "recommendations", "POST", "/seminars", json=form)
    except ServiceRefused as refused:
        if refused.status in (409, 422):
            return await _seminars_page(request, state, who, status_code=refused.status, error=refused.detail, form=form)
        raise
    return redirect(request, who, f"/seminars/{created.json()['id']}?done=scheduled")


async def _seminar_page(
    request: Request,
    state: PortalState,
    who: Visitor,
    seminar_id: uuid.UUID,
    *,
    status_code: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    bearer = who.bearer
    seminar, recommendations = await asyncio.gather(
        state.services.get(bearer, "recommendations", f"/seminars/{seminar_id}"),
        state.services.all_items(bearer, "recommendations", "/recommendations", seminar=seminar_id),
    )
    return render(
        request,
        who,
        "seminar.html",
        status_code=status_code,
        seminar=seminar,
        recommendations=recommendations,
        drafts=[r for r in recommendations if r["status"] == "draft"],
        dimensions=DIMENSIONS,
        error=error,
        form=form or {},
        done=request.query_params.get("done"),
    )


@router.get("/seminars/{seminar_id}")
async def seminar_page(request: Request, state: StateDep, who: VisitorDep, seminar_id: uuid.UUID) -> Response:
    return await _seminar_page(request, state, who, seminar_id)


async def _act(
    request: Request,
    state: PortalState,
    who: Visitor,
    seminar_id: uuid.UUID,
    path: str,
    done: str,
    form: dict[str, str] | None = None,
    **body: Any,
) -> Response:
    """One change on a seminar; a refusal shows on the seminar's page with what was typed."""
    try:
        await state.services.call(who.bearer, "recommendations", "POST", path, **body)
    except ServiceRefused as refused:
        if refused.status in (409, 422):
            return await _seminar_page(
                request, state, who, seminar_id, status_code=refused.status, error=refused.detail, form=form
            )
        raise
    return redirect(request, who, f"/seminars/{seminar_id}?done={done}")


@router.post("/seminars/{seminar_id}/recommendations")
async def draft(
    request: Request,
    state: StateDep,
    who: VisitorDep,
    seminar_id: uuid.UUID,
    csrf_token: Csrf = "",
    title: Short = "",
    text: Long = "",
    dimension: Short = "",
    due_date: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    who.check_csrf(csrf_token)
    form = {"title": title, "text": text, "dimension": dimension, "due_date": due_date}
    body = {**form, "due_date": due_date or None}
    return await _act(request, state, who, seminar_id, f"/seminars/{seminar_id}/recommendations", "drafted", form, json=body)


@router.post("/seminars/{seminar_id}/hold")
async def hold(request: Request, state: StateDep, who: VisitorDep, seminar_id: uuid.UUID, csrf_token: Csrf = "") -> Response:
    who.check_csrf(csrf_token)
    return await _act(request, state, who, seminar_id, f"/seminars/{seminar_id}/hold", "held")


@router.post("/seminars/{seminar_id}/publish")
async def publish(request: Request, state: StateDep, who: VisitorDep, seminar_id: uuid.UUID, csrf_token: Csrf = "") -> Response:
    who.check_csrf(csrf_token)
    return await _act(request, state, who, seminar_id, f"/seminars/{seminar_id}/publish-report", "published")


# --- one recommendation ----------------------------------------------------------------------------
async def _recommendation_page(
    request: Request, state: PortalState, who: Visitor, rec_id: uuid.UUID, *, status_code: int = 200, error: str | None = None
) -> Response:
    bearer = who.bearer
    recommendation, history = await asyncio.gather(
        state.services.get(bearer, "recommendations", f"/recommendations/{rec_id}"),
        state.services.get(bearer, "recommendations", f"/recommendations/{rec_id}/history"),
    )
    seminar = await state.services.get(bearer, "recommendations", f"/seminars/{recommendation['seminar_id']}")
    return render(
        request,
        who,
        "recommendation.html",
        status_code=status_code,
        recommendation=recommendation,
        seminar=seminar,
        versions=revisions.versions(history),
        dimensions=DIMENSIONS,
        error=error,
        done=request.query_params.get("done"),
    )


@router.get("/recommendations/{rec_id}")
async def recommendation_page(request: Request, state: StateDep, who: VisitorDep, rec_id: uuid.UUID) -> Response:
    return await _recommendation_page(request, state, who, rec_id)


async def _change(
    request: Request, state: PortalState, who: Visitor, rec_id: uuid.UUID, verb: str, body: dict[str, Any]
) -> Response:
    try:
        await state.services.call(who.bearer, "recommendations", "POST", f"/recommendations/{rec_id}/{verb}", json=body)
    except ServiceRefused as refused:
        if refused.status in (409, 422):
            return await _recommendation_page(request, state, who, rec_id, status_code=refused.status, error=refused.detail)
        raise
    return redirect(request, who, f"/recommendations/{rec_id}?done={verb}")


@router.post("/recommendations/{rec_id}/issue")
async def issue(
    request: Request,
    state: StateDep,
    who: VisitorDep,
    rec_id: uuid.UUID,
    csrf_token: Csrf = "",
    back: Annotated[Literal["seminar", "recommendation"], Form()] = "seminar",
) -> Response:
    """Issue one draft (a draft written after its seminar's report was published); back to the
    page the button was on, where a refusal is shown too."""
    who.check_csrf(csrf_token)
    if back == "recommendation":
        return await _change(request, state, who, rec_id, "issue", {})
    try:
        answer = await state.services.call(who.bearer, "recommendations", "POST", f"/recommendations/{rec_id}/issue")
    except ServiceRefused as refused:
        if refused.status in (409, 422):
            current = await state.services.get(who.bearer, "recommendations", f"/recommendations/{rec_id}")
            seminar_id = uuid.UUID(current["seminar_id"])
            return await _seminar_page(request, state, who, seminar_id, status_code=refused.status, error=refused.detail)
        raise
    return redirect(request, who, f"/seminars/{answer.json()['seminar_id']}?done=issued")


@router.post("/recommendations/{rec_id}/revise")
async def revise(
    request: Request,
    state: StateDep,
    who: VisitorDep,
    rec_id: uuid.UUID,
    csrf_token: Csrf = "",
    reason: Long = "",
    title: Short = "",
    text: Long = "",
) -> Response:
    """Sends the reason and only the fields that now differ: the service keeps every field a
    revision does not name."""
    who.check_csrf(csrf_token)
    current = await state.services.get(who.bearer, "recommendations", f"/recommendations/{rec_id}")
    body: dict[str, Any] = {"reason": reason}
    if title.strip() and title.strip() != current["title"]:
        body["title"] = title.strip()
    if text.strip() and text.strip() != current["text"]:
        body["text"] = text.strip()
    return await _change(request, state, who, rec_id, "revise", body)


@router.post("/recommendations/{rec_id}/withdraw")
async def withdraw(
    request: Request, state: StateDep, who: VisitorDep, rec_id: uuid.UUID, csrf_token: Csrf = "", reason: Long = ""
) -> Response:
    who.check_csrf(csrf_token)
    return await _change(request, state, who, rec_id, "withdraw", {"reason": reason})
