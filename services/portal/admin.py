"""Admin pages: people accounts, integration tokens (created — the token shown once —, listed,
revoked), webhook subscriptions and the delivery log with "retry" for dead deliveries.

Every /admin page is for the admin role only: anyone else gets the 403 page (checked with the
platform's `Principal.require`, the rule the services use). Subscriptions and deliveries are read
and retried through the notifications service as the admin, which checks the role again.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from services.portal import accounts, views
from services.portal.web import PortalState, StateDep, Visitor, VisitorDep, redirect, render
from shared.platform.auth import Principal, Role
from shared.platform.errors import Forbidden

router = APIRouter(prefix="/admin", include_in_schema=False)
Csrf = Annotated[str, Form(max_length=100)]
Short = Annotated[str, Form(max_length=254)]


DELIVERIES_PER_PAGE = 100
ADMIN_ONLY = "admin_only"  # a reason key the 403 page words (error.html)


def require_admin(who: Visitor) -> None:
    signed_in = who.require_signed_in()
    principal = Principal(token_id="portal", role=Role(signed_in.session.role), city=signed_in.session.city)
    try:
        principal.require(Role.admin, why="manage people, tokens and deliveries")
    except Forbidden as refused:
        raise HTTPException(403, detail=ADMIN_ONLY) from refused  # the 403 page says why


def _role_and_city(role: str, city: str) -> tuple[Role, str | None] | None:
    try:
        return Role(role), (city.strip().lower() or None)
    except ValueError:
        return None


async def _cities(state: PortalState, who: Visitor) -> list[dict[str, Any]]:
    """The partner cities a person or a token may act for (the forms' choice, and what is accepted)."""
    return views.partner_cities(await state.services.all_items(who.bearer, "recommendations", "/partners"))


def _unknown_city(city: str | None, cities: list[dict[str, Any]]) -> str | None:
    if city is not None and city not in {c["slug"] for c in cities}:
        return f"{city!r} is not a CLUSNET partner city"
    return None


# --- people ------------------------------------------------------------------------------------
@router.get("/people")
async def people_page(request: Request, state: StateDep, who: VisitorDep) -> Response:
    require_admin(who)
    found = await accounts.list_people(state.auth_sessions)
    cities = await _cities(state, who)
    return render(request, who, "admin_people.html", people=found, roles=list(Role), cities=cities, created=None, error=None)


@router.post("/people")
async def add_person(
    request: Request,
    state: StateDep,
    who: VisitorDep,
    csrf_token: Csrf = "",
    email: Short = "",
    name: Short = "",
    role: Short = "",
    city: Short = "",
    language: Annotated[str, Form(max_length=5)] = "en",
) -> Response:
    require_admin(who)
    who.check_csrf(csrf_token)
    chosen = _role_and_city(role, city)
    cities = await _cities(state, who)
    created = None
    error = "unknown role" if chosen is None else _unknown_city(chosen[1], cities)
    if chosen is not None and error is None:
        try:
            person, password = await accounts.add_person(
                state.auth_sessions, email=email, name=name, role=chosen[0], city=chosen[1], language=language
            )
            created = {"email": person.email, "password": password}
        except ValueError as refused:
            error = str(refused)
    found = await accounts.list_people(state.auth_sessions)
    return render(
        request,
        who,
        "admin_people.html",
        status_code=422 if error else 201,
        people=found,
        roles=list(Role),
        cities=cities,
        created=created,
        error=error,
    )


# --- tokens ------------------------------------------------------------------------------------
async def _tokens_page(
    request: Request,
    state: PortalState,
    who: Visitor,
    cities: list[dict[str, Any]],
    *,
    status_code: int = 200,
    created: str | None = None,
    error: str | None = None,
) -> Response:
    """The tokens page. Its `cities` are read before anything is written: a new token's text is on
    this answer only, so nothing that could fail (a call to a service) may come after it is made."""
    tokens = await accounts.integration_tokens(state.auth_sessions)
    return render(
        request,
        who,
        "admin_tokens.html",
        status_code=status_code,
        tokens=tokens,
        roles=list(Role),
        cities=cities,
        created=created,
        error=error,
        revoked=request.query_params.get("revoked"),
    )


@router.get("/tokens")
async def tokens_page(request: Request, state: StateDep, who: VisitorDep) -> Response:
    require_admin(who)
    return await _tokens_page(request, state, who, await _cities(state, who))


@router.post("/tokens")
async def create_token(
    request: Request,
    state: StateDep,
    who: VisitorDep,
    csrf_token: Csrf = "",
    role: Short = "",
    city: Short = "",
    label: Short = "",
) -> Response:
    """The token's text is on this answer only (its hash is stored): a page, not a redirect."""
    require_admin(who)
    who.check_csrf(csrf_token)
    chosen = _role_and_city(role, city)
    cities = await _cities(state, who)
    if chosen is None:
        return await _tokens_page(request, state, who, cities, status_code=422, error="unknown role")
    if unknown := _unknown_city(chosen[1], cities):
        return await _tokens_page(request, state, who, cities, status_code=422, error=unknown)
    try:
        _, text = await accounts.create_token(state.auth_sessions, role=chosen[0], city=chosen[1], label=label)
    except ValueError as refused:
        return await _tokens_page(request, state, who, cities, status_code=422, error=str(refused))
    return await _tokens_page(request, state, who, cities, status_code=201, created=text)


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(request: Request, state: StateDep, who: VisitorDep, token_id: str, csrf_token: Csrf = "") -> Response:
    require_admin(who)
    who.check_csrf(csrf_token)
    if not await accounts.revoke_token(state.auth_sessions, token_id[:16]):
        raise HTTPException(404)
    return redirect(request, who, f"/admin/tokens?revoked={token_id[:16]}")


# --- webhook subscriptions and deliveries ---------------------------------------------------------
@router.get("/subscriptions")
async def subscriptions_page(request: Request, state: StateDep, who: VisitorDep) -> Response:
    require_admin(who)
    found = await state.services.all_items(who.bearer, "notifications", "/subscriptions")
    return render(request, who, "admin_subscriptions.html", subscriptions=[s for s in found if s["channel"] == "webhook"])


@router.get("/deliveries")
async def deliveries_page(
    request: Request,
    state: StateDep,
    who: VisitorDep,
    status: str = "dead",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,  # the service's own bound
) -> Response:
    """A state's deliveries, DELIVERIES_PER_PAGE at a time (it showed the first 100 and no more)."""
    require_admin(who)
    status = status if status in ("dead", "pending", "delivered", "digest_pending") else "dead"
    page = await state.services.get(
        who.bearer, "notifications", "/deliveries", status=status, limit=DELIVERIES_PER_PAGE, offset=offset
    )
    return render(
        request,
        who,
        "admin_deliveries.html",
        deliveries=page["items"],
        status=status,
        offset=offset,
        per_page=DELIVERIES_PER_PAGE,
        next_offset=page["next_offset"],
        retried=request.query_params.get("retried"),
    )


@router.post("/deliveries/{delivery_id}/retry")
async def retry_delivery(
    request: Request, state: StateDep, who: VisitorDep, delivery_id: uuid.UUID, csrf_token: Csrf = ""
) -> Response:
    require_admin(who)
    who.check_csrf(csrf_token)
    await state.services.call(who.bearer, "notifications", "POST", f"/deliveries/{delivery_id}/retry")
    return redirect(request, who, f"/admin/deliveries?retried={delivery_id}")
