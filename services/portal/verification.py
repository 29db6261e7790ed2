"""The lead partner's verification queue: city answers waiting to be verified or sent back.

Evaluations decides what waits (`/follow-ups?awaiting_verification=true`) and who may judge
(`POST /follow-ups/{id}/verification`, lead partner only; sending back needs a comment): a
refusal is shown in the person's language when the workflow gave its code, else as the service worded it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from services.portal.clients import ServiceRefused
from services.portal.web import PortalState, StateDep, Visitor, VisitorDep, redirect, render

router = APIRouter(include_in_schema=False)


async def _queue_page(
    request: Request,
    state: PortalState,
    who: Visitor,
    *,
    status_code: int = 200,
    error: dict[str, Any] | None = None,
    failed: str = "",
) -> Response:
    waiting = await state.services.all_items(who.bearer, "evaluations", "/follow-ups", awaiting_verification="true")
    return render(
        request,
        who,
        "verification.html",
        status_code=status_code,
        waiting=waiting,
        error=error,
        failed=failed,
        done=request.query_params.get("done"),
    )


@router.get("/verification")
async def verification_queue(request: Request, state: StateDep, who: VisitorDep) -> Response:
    return await _queue_page(request, state, who)


@router.post("/verification/{followup_id}")
async def judge(
    request: Request,
    state: StateDep,
    who: VisitorDep,
    followup_id: uuid.UUID,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    verdict: Annotated[str, Form(pattern="^(verified|contested)$")] = "verified",
    comment: Annotated[str, Form(max_length=5_000)] = "",
) -> Response:
    """Verify, or send back with a comment the city reads on its follow-up page."""
    who.check_csrf(csrf_token)
    body = {"verification": verdict, "comment": comment.strip() or None}
    try:
        await state.services.call(who.bearer, "evaluations", "POST", f"/follow-ups/{followup_id}/verification", json=body)
    except ServiceRefused as refused:
        if refused.status in (409, 422):
            return await _queue_page(
                request, state, who, status_code=refused.status, error=refused.problem, failed=str(followup_id)
            )
        raise
    return redirect(request, who, f"/verification?done={verdict}")
