"""HTTP endpoints of the notifications service: thin; the work is in service.py."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from services.notifications import feed, repository, rules, service
from services.notifications.config import Settings
from services.notifications.models import (
    DeliveryPublic,
    DeliveryStatus,
    MySubscriptionCreate,
    MySubscriptions,
    StakeholderCreate,
    StakeholderPublic,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionPublic,
    Unsubscribed,
)
from shared.platform.auth import Principal, Role
from shared.platform.db import database_unavailable
from shared.platform.deps import BearerToken, PrincipalDep, RuntimeDep, SessionDep, allow, settings_of
from shared.platform.errors import Unauthorized
from shared.platform.pagination import Page, PageDep

router = APIRouter()
SettingsDep = Annotated[Settings, settings_of(Settings)]
Admin = Annotated[Principal, allow(Role.admin, why="manage stakeholders, subscriptions and deliveries")]
FeedReaderRole = Annotated[
    Principal, allow(Role.admin, Role.lead_partner, Role.integration, Role.city_official, why="read the event feed")
]
Reader = Annotated[
    Principal, allow(Role.admin, Role.lead_partner, Role.integration, why="read stakeholders, subscriptions or deliveries")
]


@router.post("/stakeholders", tags=["stakeholders"], status_code=201)
async def create_stakeholder(data: StakeholderCreate, session: SessionDep, _: Admin) -> StakeholderPublic:
    return StakeholderPublic.model_validate(await service.create_stakeholder(session, data), from_attributes=True)


@router.get("/stakeholders", tags=["stakeholders"])
async def list_stakeholders(
    session: SessionDep, _: Reader, page: PageDep, city: Annotated[str | None, Query(max_length=64)] = None
) -> Page[StakeholderPublic]:
    rows = await repository.list_stakeholders(session, page, city)
    return Page.of([StakeholderPublic.model_validate(r, from_attributes=True) for r in rows], page)


@router.get("/stakeholders/{stakeholder_id}", tags=["stakeholders"])
async def get_stakeholder(stakeholder_id: uuid.UUID, session: SessionDep, _: Reader) -> StakeholderPublic:
    return StakeholderPublic.model_validate(await service.stakeholder_or_404(session, stakeholder_id), from_attributes=True)


@router.post("/subscriptions", tags=["subscriptions"], status_code=201)
async def subscribe(data: SubscriptionCreate, session: SessionDep, settings: SettingsDep, _: Admin) -> SubscriptionCreated:
    """Subscribe a stakeholder. A webhook subscription's answer carries its signing `secret`, once.
    A webhook URL whose host is or resolves to a private, loopback, link-local, multicast or
    unspecified address is refused with 422 (SSRF)."""
    return await service.subscribe(session, data, allow_loopback=settings.webhook_allow_loopback)


@router.get("/subscriptions", tags=["subscriptions"])
async def list_subscriptions(
    session: SessionDep, _: Reader, page: PageDep, stakeholder: uuid.UUID | None = None
) -> Page[SubscriptionPublic]:
    rows = await repository.list_subscriptions(session, page, stakeholder)
    return Page.of([SubscriptionPublic.model_validate(r, from_attributes=True) for r in rows], page)


@router.get("/subscriptions/{subscription_id}", tags=["subscriptions"])
async def get_subscription(subscription_id: uuid.UUID, session: SessionDep, _: Reader) -> SubscriptionPublic:
    return SubscriptionPublic.model_validate(await service.subscription_or_404(session, subscription_id), from_attributes=True)


@router.post("/subscriptions/{subscription_id}/enable", tags=["subscriptions"])
async def enable(subscription_id: uuid.UUID, session: SessionDep, _: Admin) -> SubscriptionPublic:
    return SubscriptionPublic.model_validate(await service.set_active(session, subscription_id, True), from_attributes=True)


@router.post("/subscriptions/{subscription_id}/disable", tags=["subscriptions"])
async def disable(subscription_id: uuid.UUID, session: SessionDep, _: Admin) -> SubscriptionPublic:
    return SubscriptionPublic.model_validate(await service.set_active(session, subscription_id, False), from_attributes=True)


@router.get("/me/subscriptions", tags=["my notifications"])
async def my_subscriptions(session: SessionDep, principal: PrincipalDep) -> MySubscriptions:
    """The signed-in person's own email subscriptions (a token minted by the portal at sign-in)."""
    return await service.my_subscriptions(session, principal)


@router.post("/me/subscriptions", tags=["my notifications"], status_code=201)
async def subscribe_me(data: MySubscriptionCreate, session: SessionDep, principal: PrincipalDep) -> SubscriptionPublic:
    """Subscribe the signed-in person by email to what the filters match, immediately or as a daily digest."""
    return SubscriptionPublic.model_validate(await service.subscribe_me(session, principal, data), from_attributes=True)


@router.post("/me/subscriptions/{subscription_id}/disable", tags=["my notifications"])
async def disable_mine(subscription_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> SubscriptionPublic:
    sub = await service.set_my_subscription_active(session, principal, subscription_id, False)
    return SubscriptionPublic.model_validate(sub, from_attributes=True)


@router.post("/me/subscriptions/{subscription_id}/enable", tags=["my notifications"])
async def enable_mine(subscription_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> SubscriptionPublic:
    sub = await service.set_my_subscription_active(session, principal, subscription_id, True)
    return SubscriptionPublic.model_validate(sub, from_attributes=True)


@router.post("/unsubscribe/{token}", tags=["my notifications"])
async def unsubscribe(token: Annotated[str, Path(min_length=16, max_length=64)], session: SessionDep) -> Unsubscribed:
    """One-click unsubscribe (RFC 8058), without a bearer token: the link's token is the credential
    and turns off that one subscription. Every email's `List-Unsubscribe` leads here (via the portal)."""
    sub = await service.unsubscribe(session, token)
    return Unsubscribed(subscription_id=sub.id, active=sub.active)


@router.get("/deliveries", tags=["deliveries"])
async def list_deliveries(
    session: SessionDep,
    _: Reader,
    page: PageDep,
    status: DeliveryStatus | None = None,
    stakeholder: uuid.UUID | None = None,
    subscription: uuid.UUID | None = None,
    event: uuid.UUID | None = None,
    event_type: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[DeliveryPublic]:
    """The delivery log; `GET /deliveries/{id}` adds every attempt with its answer."""
    f = repository.DeliveryFilter(
        status=status, stakeholder=stakeholder, subscription=subscription, event=event, event_type=event_type
    )
    rows = await repository.list_deliveries(session, page, f)
    return Page.of([await service.delivery_view(session, r, with_attempts=False) for r in rows], page)


@router.get("/deliveries/{delivery_id}", tags=["deliveries"])
async def get_delivery(delivery_id: uuid.UUID, session: SessionDep, _: Reader) -> DeliveryPublic:
    return await service.delivery_view(session, await service.delivery_or_404(session, delivery_id))


@router.post("/deliveries/{delivery_id}/retry", tags=["deliveries"])
async def retry(delivery_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _: Admin) -> DeliveryPublic:
    """Send a dead delivery again (its attempts start over)."""
    delivery = await service.retry(session, delivery_id)
    runtime.wake_workers()
    return await service.delivery_view(session, delivery)


FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events (each `id:` is the position after the event), or with `Accept: application/json` "
        "a page `{items, next, more}`; every item is a CloudEvent in JSON with its `position`.",
        "content": {"text/event-stream": {}, "application/json": {}},
    }
}


@router.get("/events", tags=["events"], response_model=None, responses=FEED_RESPONSES)
async def event_feed(
    request: Request,
    runtime: RuntimeDep,
    principal: FeedReaderRole,
    token: BearerToken,
    type: Annotated[list[str], Query(max_length=50, description="Event names or versioned types")] = [],  # noqa: B006
    city: Annotated[str | None, Query(max_length=64)] = None,
    seminar: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[str | None, Query(max_length=2000, description="A position from an earlier event")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="JSON page size")] = 100,
    last_event_id: Annotated[str | None, Header(max_length=2000)] = None,
) -> Response:
    """The domain events, read from Kafka: resumable with `Last-Event-ID` or `?after=`; a city
    official sees only their city's events."""
    wanted = feed.scope(principal, type, city, seminar)
    settings = runtime.settings
    streams = sorted({p.stream for p in rules.NOTIFIABLE})
    cursor = feed.Cursor.parse(last_event_id or after, streams)
    reader = feed.FeedReader(settings.kafka_bootstrap_servers, settings.topic_prefix, streams, cursor, wanted)
    if _wants_json(request.headers.get("accept", "")):
        async with reader:
            items = await reader.page(limit)
            return JSONResponse({"items": items, "next": str(reader.cursor), "more": not reader.at_end()})

    async def still_allowed() -> bool:
        try:
            await runtime.tokens.principal(token)  # the cache's ttl (AUTH_CACHE_S) bounds how late it learns
        except Unauthorized:
            return False
        except Exception as exc:
            if database_unavailable(exc):  # not the token's fault: the stream goes on, asked again later
                return True
            raise
        return True

    async def stream() -> AsyncIterator[str]:
        async with reader:
            async for chunk in reader.stream(still_allowed):
                yield chunk

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _wants_json(accept: str) -> bool:
    return "application/json" in accept and "text/event-stream" not in accept
