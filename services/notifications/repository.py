"""Queries of the notifications service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.models import Channel, Delivery, DeliveryAttempt, DeliveryStatus, Stakeholder, Subscription
from shared.platform.pagination import PageParams


async def list_stakeholders(session: AsyncSession, page: PageParams, city: str | None) -> Sequence[Stakeholder]:
    query = select(Stakeholder).order_by(col(Stakeholder.created_at), col(Stakeholder.id))
    if city:
        query = query.where(Stakeholder.city == city)
    return (await session.exec(query.offset(page.offset).limit(page.limit + 1))).all()


async def list_subscriptions(session: AsyncSession, page: PageParams, stakeholder: uuid.UUID | None) -> Sequence[Subscription]:
    query = select(Subscription).order_by(col(Subscription.created_at), col(Subscription.id))
    if stakeholder:
        query = query.where(Subscription.stakeholder_id == stakeholder)
    return (await session.exec(query.offset(page.offset).limit(page.limit + 1))).all()


async def stakeholder_by_email(session: AsyncSession, email: str) -> Stakeholder | None:
    query = select(Stakeholder).where(func.lower(Stakeholder.email) == email.lower()).order_by(col(Stakeholder.created_at))
    return (await session.exec(query)).first()


async def email_subscriptions_of(session: AsyncSession, stakeholder_id: uuid.UUID) -> Sequence[Subscription]:
    query = (
        select(Subscription)
        .where(Subscription.stakeholder_id == stakeholder_id, Subscription.channel == Channel.email)
        .order_by(col(Subscription.created_at), col(Subscription.id))
    )
    return (await session.exec(query)).all()


async def subscription_by_unsubscribe_token(session: AsyncSession, token: str) -> Subscription | None:
    query = select(Subscription).where(Subscription.unsubscribe_token == token).with_for_update()
    return (await session.exec(query)).first()


@dataclass
class DeliveryFilter:
    status: DeliveryStatus | None = None
    stakeholder: uuid.UUID | None = None
    subscription: uuid.UUID | None = None
    event: uuid.UUID | None = None
    event_type: str | None = None


async def list_deliveries(session: AsyncSession, page: PageParams, f: DeliveryFilter) -> Sequence[Delivery]:
    query = select(Delivery).order_by(col(Delivery.created_at).desc(), col(Delivery.id))
    for column, value in (
        (Delivery.status, f.status),
        (Delivery.stakeholder_id, f.stakeholder),
        (Delivery.subscription_id, f.subscription),
        (Delivery.event_id, f.event),
        (Delivery.event_type, f.event_type),
    ):
        if value is not None:
            query = query.where(column == value)
    return (await session.exec(query.offset(page.offset).limit(page.limit + 1))).all()


async def attempts(session: AsyncSession, delivery_id: uuid.UUID) -> Sequence[DeliveryAttempt]:
    query = select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(col(DeliveryAttempt.id))
    return (await session.exec(query)).all()
