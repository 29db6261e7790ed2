"""The portal's pages: thin routes; sessions in service.py, shaping in views.py, rules in the services."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response

from services.portal import i18n, labels, service, views
from services.portal.api_network import network_picture
from services.portal.clients import ServiceRefused
from services.portal.web import (
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    PortalDbDep,
    PortalState,
    StateDep,
    VisitorDep,
    redirect,
    render,
    safe_next,
    secure_cookies,
)
from shared.contracts.envelope import REGISTRY

router = APIRouter(include_in_schema=False)
PUBLIC_SEMINARS_PER_PAGE = 10
ShortForm = Annotated[str, Form(max_length=300)]


# --- public ------------------------------------------------------------------------------------
@router.get("/")
async def public_page(
    request: Request, state: StateDep, who: VisitorDep, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> Response:
    """Seminars with a recommendation in force, the newest first, PUBLIC_SEMINARS_PER_PAGE to a page: their
    recommendations, each city's response and status, public evidence only. Read with the portal's
    `integration` token, whoever is signed in, so nothing private shows. A page costs three service
    calls per seminar shown, whatever the programme's size (it read every follow-up, then each one's
    evidence: 5,000 calls and 25 s for 300 seminars, and it stopped at 5,000 without saying so)."""
    reader = await state.public_reader()
    in_force, picture = await asyncio.gather(
        state.services.all_items(reader, "recommendations", "/seminars", in_force="true"),
        network_picture(state, None, who.language),  # public links only
    )
    shown = views.page_of(in_force[::-1], page, PUBLIC_SEMINARS_PER_PAGE)
    parts = await asyncio.gather(*(_seminar_outcome(state, reader, seminar["id"]) for seminar in shown.items))
    recommendations = [r for recs, _, _ in parts for r in recs]
    followups = [f for _, found, _ in parts for f in found]
    evidence = {e["followup_id"]: e["evidence"] for _, _, found in parts for e in found}
    overview = views.public_overview(shown.items, recommendations, followups, evidence)
    return render(request, who, "public.html", seminars=overview, shown=shown, picture=picture)


async def _seminar_outcome(
    state: PortalState, reader: str, seminar_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """A seminar's recommendations, their follow-ups, and the follow-ups' evidence."""
    recommendations, followups, evidence = await asyncio.gather(
        state.services.all_items(reader, "recommendations", "/recommendations", seminar=seminar_id),
        state.services.all_items(reader, "evaluations", "/follow-ups", seminar=seminar_id),
        state.services.get(reader, "evaluations", "/evidence", seminar=seminar_id),
    )
    return recommendations, followups, evidence


@router.get("/language")
async def choose_language(request: Request, state: StateDep, who: VisitorDep, lang: str, next: str = "/") -> Response:
    """A visitor's choice of language (a signed-in person's comes from their account)."""
    answer = redirect(request, who, safe_next(next, "/"))
    if lang in i18n.LANGUAGES:
        answer.set_cookie(LANGUAGE_COOKIE, lang, samesite="lax", secure=secure_cookies(request, state.settings))
    return answer


# --- signing in and out --------------------------------------------------------------------------
@router.get("/login")
async def login_form(request: Request, who: VisitorDep, next: Annotated[str, Query(max_length=500)] = "") -> Response:
    if who.signed_in is not None:
        return redirect(request, who, safe_next(next, "/city"))
    return render(request, who, "login.html", next=next, email="", error=None)


@router.post("/login")
async def login(
    request: Request,
    state: StateDep,
    db: PortalDbDep,
    who: VisitorDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    who.check_csrf(csrf_token)
    address = request.client.host if request.client else "unknown"
    try:
        signed_in, cookie = await service.sign_in(db, state.auth_sessions, state.settings, email, password, address)
    except service.SignInRefused as refused:
        error = "throttled" if refused.throttled else "wrong"
        return render(
            request, who, "login.html", status_code=429 if refused.throttled else 401, next=next, email=email, error=error
        )
    default = "/city" if signed_in.session.city else "/"
    answer = redirect(request, who, safe_next(next, default))
    seconds = int((signed_in.session.expires_at - datetime.now(UTC)).total_seconds())
    answer.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=seconds,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request, state.settings),
    )
    return answer


@router.post("/logout")
async def logout(
    request: Request,
    state: StateDep,
    db: PortalDbDep,
    who: VisitorDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    who.check_csrf(csrf_token)
    if who.signed_in is not None:
        await service.sign_out(db, state.auth_sessions, who.signed_in)
    answer = redirect(request, who, "/")
    answer.delete_cookie(SESSION_COOKIE)
    return answer


# --- a city's follow-ups -------------------------------------------------------------------------
@router.get("/city")
async def city_page(
    request: Request,
    state: StateDep,
    who: VisitorDep,
    seminar: uuid.UUID | None = None,
    dimension: Annotated[str, Query(max_length=40)] = "",
    status: Annotated[str, Query(max_length=40)] = "",
    overdue: Annotated[str, Query(max_length=5)] = "",
) -> Response:
    """The follow-ups the signed-in person may see (evaluations scopes a city official to their
    city), grouped by seminar, the most urgent first."""
    bearer = who.bearer
    filters = {"seminar": seminar, "dimension": dimension, "status": status, "overdue": overdue or None}
    seminars, followups = await asyncio.gather(
        state.services.all_items(bearer, "recommendations", "/seminars"),
        state.services.all_items(bearer, "evaluations", "/follow-ups", **filters),
    )
    groups = views.group_by_seminar(followups, {s["id"]: s for s in seminars})
    return render(
        request,
        who,
        "city.html",
        groups=groups,
        seminars=seminars,
        filters={"seminar": str(seminar or ""), "dimension": dimension, "status": status, "overdue": overdue},
        count=len(followups),
    )


# --- one follow-up -------------------------------------------------------------------------------
async def _followup_page(
    request: Request,
    state: StateDep,
    who: VisitorDep,
    followup_id: uuid.UUID,
    *,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    comment: str = "",
    error: dict[str, Any] | None = None,
    evidence_error: dict[str, Any] | None = None,
    conflict: list[tuple[str, str, str]] | None = None,
) -> Response:
    """`error`: the follow-up form's refusal (shown under the title); `evidence_error`: an
    evidence form's (shown in the evidence section, where that form is). Both are the service's
    problem+json, which the page words in the person's language (`explain`)."""
    bearer = who.bearer
    path = f"/follow-ups/{followup_id}"
    current = await state.services.call(bearer, "evaluations", "GET", path)
    followup = current.json()
    history, evidence, rec_history, seminar, peers = await asyncio.gather(
        state.services.get(bearer, "evaluations", f"{path}/history"),
        state.services.get(bearer, "evaluations", f"{path}/evidence"),
        state.services.get(bearer, "recommendations", f"/recommendations/{followup['recommendation_id']}/history"),
        state.services.get(bearer, "recommendations", f"/seminars/{followup['seminar_id']}"),
        state.services.get(bearer, "evaluations", f"{path}/peers"),  # the same advice elsewhere
    )
    return render(
        request,
        who,
        "followup.html",
        status_code=status_code,
        followup=followup,
        etag=current.headers.get("etag", ""),
        form=form or views.form_values(followup),
        was=views.form_values(followup),  # the baseline the person's changes are measured against
        comment=comment,
        history=list(reversed(history)),
        evidence=evidence,
        previous=views.previous_text(rec_history, followup["recommendation_version"]),
        seminar=seminar,
        error=error,
        conflict=conflict,
        saved=request.query_params.get("saved"),
        evidence_added=request.query_params.get("evidence") == "added",
        evidence_error=evidence_error,
        upload_max_bytes=state.settings.upload_max_bytes,
        peers=views.closest_peers(peers),
        peers_total=len(peers),
    )


@router.get("/follow-ups/{followup_id}")
async def followup_page(request: Request, state: StateDep, who: VisitorDep, followup_id: uuid.UUID) -> Response:
    return await _followup_page(request, state, who, followup_id)


@router.post("/follow-ups/{followup_id}")
async def save_followup(request: Request, state: StateDep, who: VisitorDep, followup_id: uuid.UUID) -> Response:
    """Send this person's changes (the fields that differ from what their page showed, `was_*`)
    with If-Match of the version they read. If someone saved first, show where the two differ and
    prefill the form with the saved version plus this person's changes: nothing is lost."""
    posted = await request.form()
    who.check_csrf(str(posted.get("csrf_token", "")))
    form, was = views.posted_fields(posted), views.posted_fields(posted, prefix="was_")
    comment = str(posted.get("comment", ""))[:5_000]
    path = f"/follow-ups/{followup_id}"
    body = views.patch_body(form, comment, was)
    if not body:
        return redirect(request, who, f"{path}?saved=1")  # nothing changed: no version bump for no one
    try:
        etag = str(posted.get("etag", ""))[:200] or '""'
        await state.services.call(who.bearer, "evaluations", "PATCH", path, json=body, headers={"If-Match": etag})
    except ServiceRefused as refused:
        if refused.status == 412:
            theirs = views.form_values(await state.services.get(who.bearer, "evaluations", path))
            return await _followup_page(
                request,
                state,
                who,
                followup_id,
                status_code=409,
                form=views.rebase(form, was, theirs),
                comment=comment,
                conflict=views.conflicts(form, was, theirs),
            )
        if refused.status in (409, 422):
            return await _followup_page(
                request, state, who, followup_id, status_code=refused.status, form=form, comment=comment, error=refused.problem
            )
        raise
    return redirect(request, who, f"{path}?saved=1")


@router.post("/follow-ups/{followup_id}/evidence/file")
async def upload_evidence(
    request: Request,
    state: StateDep,
    who: VisitorDep,
    followup_id: uuid.UUID,
    file: Annotated[UploadFile, File()],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    title: ShortForm = "",
    public: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Forward an uploaded file to evaluations, which checks its type and size and stores it."""
    who.check_csrf(csrf_token)
    content = await file.read(state.settings.upload_max_bytes + 1)
    try:
        await state.services.call(
            who.bearer,
            "evaluations",
            "POST",
            f"/follow-ups/{followup_id}/evidence/file",
            files={"file": (file.filename or "evidence", content, "application/octet-stream")},
            data={"title": title, "public": "true" if public == "on" else "false"},
        )
    except ServiceRefused as refused:
        if refused.status in (409, 413, 415, 422):
            return await _followup_page(
                request, state, who, followup_id, status_code=refused.status, evidence_error=refused.problem
            )
        raise
    return redirect(request, who, f"/follow-ups/{followup_id}?evidence=added#evidence")


@router.get("/follow-ups/{followup_id}/evidence/{evidence_id}/file")
async def download_evidence(
    request: Request, state: StateDep, who: VisitorDep, followup_id: uuid.UUID, evidence_id: uuid.UUID
) -> Response:
    """A signed-in person downloads as themselves; anyone else as the public reader, which
    evaluations lets see public evidence only."""
    bearer = who.signed_in.bearer if who.signed_in else await state.public_reader()
    answer = await state.services.call(bearer, "evaluations", "GET", f"/follow-ups/{followup_id}/evidence/{evidence_id}/file")
    passed = ("content-type", "content-disposition", "etag")
    response = Response(answer.content, headers={k: v for k, v in answer.headers.items() if k.lower() in passed})
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@router.post("/follow-ups/{followup_id}/evidence")
async def add_link_evidence(
    request: Request,
    state: StateDep,
    who: VisitorDep,
    followup_id: uuid.UUID,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    title: ShortForm = "",
    url: Annotated[str, Form(max_length=2_000)] = "",
    public: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    who.check_csrf(csrf_token)
    body: dict[str, Any] = {"title": title, "url": url or None, "public": public == "on"}
    try:
        await state.services.call(who.bearer, "evaluations", "POST", f"/follow-ups/{followup_id}/evidence", json=body)
    except ServiceRefused as refused:
        if refused.status in (409, 422):
            return await _followup_page(
                request, state, who, followup_id, status_code=refused.status, evidence_error=refused.problem
            )
        raise
    return redirect(request, who, f"/follow-ups/{followup_id}?evidence=added#evidence")


# --- My notifications ----------------------------------------------------------------------------
EVENT_TYPES = labels.event_order(
    {t.removeprefix("eu.clusnet.").rsplit(".v", 1)[0] for t in REGISTRY if ".notification." not in t}
)


@router.get("/settings/notifications")
async def my_notifications(request: Request, state: StateDep, who: VisitorDep) -> Response:
    """The signed-in person's own email subscriptions: what, how often, in which language."""
    bearer = who.bearer
    mine, seminars, partners = await asyncio.gather(
        state.services.get(bearer, "notifications", "/me/subscriptions"),
        state.services.all_items(bearer, "recommendations", "/seminars"),
        state.services.all_items(bearer, "recommendations", "/partners"),
    )
    return render(
        request,
        who,
        "notifications.html",
        subscriptions=mine["items"],
        email_language=mine["language"] if mine["items"] else who.language,
        seminars={s["id"]: s for s in seminars},
        cities=[p["slug"] for p in partners if p.get("kind", "city") == "city"],
        event_types=EVENT_TYPES,
        saved=request.query_params.get("saved"),
    )


@router.post("/settings/notifications")
async def subscribe_me(request: Request, state: StateDep, who: VisitorDep) -> Response:
    form = await request.form()
    who.check_csrf(str(form.get("csrf_token", "")))
    signed_in = who.require_signed_in()
    body = {
        "cities": [str(v) for v in form.getlist("cities")][:20],
        "seminars": [str(v) for v in form.getlist("seminars")][:50],
        "event_types": [str(v) for v in form.getlist("event_types")][:50],
        "mode": str(form.get("mode", "immediate")),
        "language": str(form.get("language", signed_in.session.language)),
        "name": signed_in.session.name,
    }
    await state.services.call(who.bearer, "notifications", "POST", "/me/subscriptions", json=body)
    return redirect(request, who, "/settings/notifications?saved=1")


@router.post("/settings/notifications/{subscription_id}/{action}")
async def toggle_subscription(
    request: Request,
    state: StateDep,
    who: VisitorDep,
    subscription_id: uuid.UUID,
    action: Annotated[str, Path(pattern="^(enable|disable)$")],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    who.check_csrf(csrf_token)
    await state.services.call(who.bearer, "notifications", "POST", f"/me/subscriptions/{subscription_id}/{action}")
    return redirect(request, who, "/settings/notifications?saved=1")


# --- one-click unsubscribe (RFC 8058) ------------------------------------------------------------
UnsubscribeToken = Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/unsubscribe/{token}")
async def unsubscribe_page(request: Request, who: VisitorDep, token: UnsubscribeToken) -> Response:
    """A confirmation page: a GET changes nothing (mail scanners open links), its button POSTs."""
    return render(request, who, "unsubscribe.html", token=token, done=False)


@router.post("/unsubscribe/{token}")
async def unsubscribe(request: Request, state: StateDep, who: VisitorDep, token: UnsubscribeToken) -> Response:
    """The one-click POST of a mail client (body `List-Unsubscribe=One-Click`) or of the page's
    button. No sign-in and no CSRF token: the link's token is the credential, and it can only
    turn off its own subscription."""
    await state.services.call(None, "notifications", "POST", f"/unsubscribe/{token}")
    return render(request, who, "unsubscribe.html", token=token, done=True)
