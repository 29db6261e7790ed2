"""Which events this service consumes and what applies each: keyed by their contract, applied
(replicas.py) inside the consumer's inbox transaction, one `ReplicaBatch` per consumed batch."""

from __future__ import annotations

from services.evaluations import replicas
from services.evaluations.replicas import ReplicaBatch
from shared.contracts.envelope import Event
from shared.contracts.recommendations import (
    CLUSTER_LINK_EVENTS,
    ClusterLinkEvent,
    RecommendationIssued,
    RecommendationRevised,
    RecommendationWithdrawn,
)
from shared.platform.routing import Router

router: Router[ReplicaBatch] = Router(ReplicaBatch.begin)


@router.on(RecommendationIssued)
async def issued(batch: ReplicaBatch, payload: RecommendationIssued, _: Event) -> None:
    await replicas.apply_recommendation(batch, payload.recommendation, payload.actor)


@router.on_many(RecommendationIssued)
async def issued_many(batch: ReplicaBatch, items: list[tuple[RecommendationIssued, Event]]) -> None:
    await replicas.apply_new_recommendations(batch, [(p.recommendation, p.actor, event) for p, event in items])


async def changed(batch: ReplicaBatch, payload: RecommendationRevised | RecommendationWithdrawn, _: Event) -> None:
    await replicas.apply_recommendation(batch, payload.recommendation, payload.actor, payload.reason)


router.add(RecommendationRevised, changed)
router.add(RecommendationWithdrawn, changed)


async def cluster_link(batch: ReplicaBatch, payload: ClusterLinkEvent, _: Event) -> None:
    """Every cluster_link.* event carries the link's full state: one handler keeps its evidence current."""
    await replicas.apply_cluster_link(batch, payload.link)


for link_event in CLUSTER_LINK_EVENTS:
    router.add(link_event, cluster_link)
