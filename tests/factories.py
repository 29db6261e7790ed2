"""Events as the recommendations service would publish them, for tests that feed a consumer directly."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from shared.contracts.common import Actor
from shared.contracts.envelope import Event
from shared.contracts.recommendations import (
    ClusterLinkEvent,
    ClusterLinkProposed,
    ClusterLinkState,
    LinkedCluster,
    RecommendationIssued,
    RecommendationState,
    SeminarState,
)
from shared.platform.tracing import new_traceparent

LEAD = Actor(id="lead", role="lead_partner")


def recommendation(
    rec_id: uuid.UUID,
    version: int = 1,
    status: str = "issued",
    due: date | None = date(2030, 1, 1),
    city: str = "leipzig",
    **kw: Any,
) -> RecommendationState:
    seminar = SeminarState(
        id=uuid.UUID(int=7),
        host_city=city,
        theme="biotech",
        cluster="leipzig-biocluster",
        held_on=date(2009, 11, 26),
        status="report_published",
    )
    values = {
        "id": rec_id,
        "version": version,
        "status": status,
        "seminar": seminar,
        "target_city": city,
        "dimension": "setting",
        "title": f"Recommendation v{version}",
        "text": f"text v{version}",
        "priority": "high",
        "due_date": due,
        "updated_at": datetime.now(UTC),
        **kw,
    }
    return RecommendationState(**values)


def issued(rec_id: uuid.UUID | None = None, **kw: Any) -> Event:
    rec_id = rec_id or uuid.uuid4()
    payload = RecommendationIssued(recommendation=recommendation(rec_id, **kw), actor=LEAD)
    return Event.of(payload, source="/test", subject=str(rec_id), traceparent=new_traceparent())


def link_state(link_id: uuid.UUID | None = None, version: int = 1, status: str = "proposed", **kw: Any) -> ClusterLinkState:
    """An inter-cluster link between MediaCityUK (Manchester) and the BioCluster (Leipzig)."""
    values = {
        "id": link_id or uuid.uuid4(),
        "version": version,
        "status": status,
        "kind": "joint_project",
        "description": "Investor days shared by the two clusters",
        "clusters": [
            LinkedCluster(slug="mediacityuk", name="MediaCityUK", sector="new media", city="manchester"),
            LinkedCluster(slug="leipzig-biocluster", name="BioCluster Leipzig", sector="biotech", city="leipzig"),
        ],
        "cities": ["manchester", "leipzig"],
        "updated_at": datetime.now(UTC),
        **kw,
    }
    return ClusterLinkState(**values)


def link_event(payload: type[ClusterLinkEvent] = ClusterLinkProposed, **kw: Any) -> Event:
    state = link_state(**kw)
    return Event.of(payload(link=state, actor=LEAD), source="/test", subject=str(state.id), traceparent=new_traceparent())
