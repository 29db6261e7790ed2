"""Events of the recommendations service (topic clusnet.recommendations)."""

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel

from shared.contracts import topics
from shared.contracts.common import Actor, Dimension
from shared.contracts.envelope import Payload


class RecommendationStatus(StrEnum):
    draft = "draft"
    issued = "issued"
    revised = "revised"
    withdrawn = "withdrawn"


class SeminarStatus(StrEnum):
    scheduled = "scheduled"
    held = "held"
    report_published = "report_published"


class SeminarState(BaseModel):
    id: UUID
    host_city: str
    theme: str
    cluster: str
    held_on: date
    status: SeminarStatus


class RecommendationState(BaseModel):
    """The full current state of a recommendation, so a consumer never needs to call back."""

    id: UUID
    version: int
    status: RecommendationStatus
    seminar: SeminarState
    target_city: str
    dimension: Dimension
    title: str
    text: str
    rationale: str | None = None
    priority: str
    due_date: date | None = None
    tags: list[str] = []
    related_ids: list[UUID] = []
    status_reason: str | None = None
    updated_at: datetime


class _RecommendationsEvent(Payload):
    stream = topics.RECOMMENDATIONS


class SeminarScheduled(_RecommendationsEvent):
    event_name = "seminar.scheduled"
    seminar: SeminarState
    actor: Actor


class SeminarHeld(_RecommendationsEvent):
    event_name = "seminar.held"
    seminar: SeminarState
    actor: Actor


class SeminarReportPublished(_RecommendationsEvent):
    event_name = "seminar.report_published"
    seminar: SeminarState
    recommendation_ids: list[UUID]
    actor: Actor


class RecommendationIssued(_RecommendationsEvent):
    event_name = "recommendation.issued"
    recommendation: RecommendationState
    actor: Actor


class RecommendationRevised(_RecommendationsEvent):
    event_name = "recommendation.revised"
    recommendation: RecommendationState
    reason: str
    actor: Actor


class RecommendationWithdrawn(_RecommendationsEvent):
    event_name = "recommendation.withdrawn"
    recommendation: RecommendationState
    reason: str
    actor: Actor


# Inter-cluster links ----------------------------------------------------------------------
class ClusterLinkStatus(StrEnum):
    proposed = "proposed"
    established = "established"
    active = "active"
    ended = "ended"
    cancelled = "cancelled"


class ClusterLinkKind(StrEnum):
    joint_project = "joint_project"
    staff_exchange = "staff_exchange"
    cooperation_agreement = "cooperation_agreement"
    study_visit = "study_visit"
    other = "other"


class LinkedCluster(BaseModel):
    slug: str
    name: str
    sector: str
    city: str


class StaffExchange(BaseModel):
    """A staff exchange: who travelled, from which partner city, and what they learned."""

    person: str
    home_city: str
    learned: str | None = None


class ClusterLinkState(BaseModel):
    """The full current state of an inter-cluster link; `version` grows with every change, so a
    consumer can tell a late or replayed event from the latest."""

    id: UUID
    version: int
    status: ClusterLinkStatus
    kind: ClusterLinkKind
    description: str
    clusters: list[LinkedCluster]
    cities: list[str]
    starts_on: date | None = None
    ends_on: date | None = None
    recommendation_ids: list[UUID] = []
    public: bool = True
    staff_exchange: StaffExchange | None = None
    status_reason: str | None = None
    updated_at: datetime


class ClusterLinkEvent(_RecommendationsEvent):
    """Base of the cluster_link.* events (not an event itself): each carries the link's full state."""

    link: ClusterLinkState
    actor: Actor


class ClusterLinkProposed(ClusterLinkEvent):
    event_name = "cluster_link.proposed"


class ClusterLinkEstablished(ClusterLinkEvent):
    event_name = "cluster_link.established"


class ClusterLinkActivated(ClusterLinkEvent):
    event_name = "cluster_link.activated"


class ClusterLinkEnded(ClusterLinkEvent):
    event_name = "cluster_link.ended"


class ClusterLinkCancelled(ClusterLinkEvent):
    event_name = "cluster_link.cancelled"


CLUSTER_LINK_EVENTS = (ClusterLinkProposed, ClusterLinkEstablished, ClusterLinkActivated, ClusterLinkEnded, ClusterLinkCancelled)

EVENTS = (
    SeminarScheduled,
    SeminarHeld,
    SeminarReportPublished,
    RecommendationIssued,
    RecommendationRevised,
    RecommendationWithdrawn,
    *CLUSTER_LINK_EVENTS,
)
