"""Events of the evaluations service (topic clusnet.evaluations)."""

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel

from shared.contracts import topics
from shared.contracts.common import Actor, Dimension
from shared.contracts.envelope import Payload


class Response(StrEnum):
    pending = "pending"
    accepted = "accepted"
    partially_accepted = "partially_accepted"
    noted = "noted"
    rejected = "rejected"


class ImplementationStatus(StrEnum):
    not_started = "not_started"
    planned = "planned"
    in_progress = "in_progress"
    implemented = "implemented"
    partially_implemented = "partially_implemented"
    not_implemented = "not_implemented"
    overtaken_by_events = "overtaken_by_events"


class Verification(StrEnum):
    unverified = "unverified"
    verified = "verified"
    contested = "contested"


class FollowUpState(BaseModel):
    id: UUID
    version: int
    recommendation_id: UUID
    recommendation_version: int
    recommendation_title: str
    seminar_id: UUID
    city: str
    dimension: Dimension
    closed: bool
    closed_reason: str | None = None
    response: Response
    implementation_status: ImplementationStatus
    verification: Verification
    due_date: date | None = None
    planned_completion: date | None = None
    owner: str | None = None
    responsible_body: str | None = None
    updated_at: datetime


class Change(BaseModel):
    field: str
    old: str | None = None
    new: str | None = None
    comment: str | None = None


class _FollowUpEvent(Payload):
    stream = topics.EVALUATIONS
    followup: FollowUpState
    actor: Actor


class FollowUpOpened(_FollowUpEvent):
    event_name = "followup.opened"


class FollowUpResponseRecorded(_FollowUpEvent):
    event_name = "followup.response_recorded"
    change: Change


class FollowUpStatusChanged(_FollowUpEvent):
    event_name = "followup.status_changed"
    change: Change


class FollowUpEvidenceAdded(_FollowUpEvent):
    event_name = "followup.evidence_added"
    evidence_id: UUID
    title: str
    url: str | None = None
    public: bool


class FollowUpVerified(_FollowUpEvent):
    event_name = "followup.verified"
    change: Change


class FollowUpDueSoon(_FollowUpEvent):
    event_name = "followup.due_soon"
    due_date: date
    days_left: int


class FollowUpOverdue(_FollowUpEvent):
    event_name = "followup.overdue"
    due_date: date
    days_overdue: int


EVENTS = (
    FollowUpOpened,
    FollowUpResponseRecorded,
    FollowUpStatusChanged,
    FollowUpEvidenceAdded,
    FollowUpVerified,
    FollowUpDueSoon,
    FollowUpOverdue,
)
