"""What this service does with the events it consumes (called inside the inbox transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlmodel.ext.asyncio.session import AsyncSession

from services.evaluations import service
from shared.contracts.envelope import Event
from shared.contracts.recommendations import RecommendationIssued, RecommendationRevised, RecommendationWithdrawn
from shared.platform.consumer import Handler
from shared.platform.outbox import EventSink


def recommendation_handlers(sink: EventSink) -> Mapping[str, Handler]:
    async def issued(session: AsyncSession, event: Event) -> None:
        payload = event.payload()
        assert isinstance(payload, RecommendationIssued)
        await service.apply_recommendation(session, sink, payload.recommendation, payload.actor)

    async def changed(session: AsyncSession, event: Event) -> None:
        payload = event.payload()
        assert isinstance(payload, RecommendationRevised | RecommendationWithdrawn)
        await service.apply_recommendation(session, sink, payload.recommendation, payload.actor, payload.reason)

    return {"recommendation.issued": issued, "recommendation.revised": changed, "recommendation.withdrawn": changed}


async def prefetch_recommendations(session: AsyncSession, events: list[Event]) -> None:
    """Before a batch: its replicas and follow-ups in two queries instead of two per event."""
    await service.prefetch(session, [uuid.UUID(e.data["recommendation"]["id"]) for e in events if "recommendation" in e.data])
