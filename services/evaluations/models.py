"""Tables and API shapes of the evaluations service."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, StringConstraints, model_validator
from sqlalchemy import JSON, Column, ForeignKey, LargeBinary, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.contracts.common import Dimension
from shared.contracts.followups import ImplementationStatus, Response, Verification
from shared.contracts.recommendations import ClusterLinkKind, ClusterLinkStatus
from shared.platform.inbox import InboxFields
from shared.platform.outbox import OutboxFields

Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5_000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(SQLModel, registry=registry()):
    """This service's own metadata."""


class Outbox(OutboxFields, Base, table=True):
    __tablename__ = "outbox"


class Inbox(InboxFields, Base, table=True):
    __tablename__ = "inbox"


class RecommendationReplica(Base, table=True):
    """What this service knows of a recommendation, kept from recommendation.* events."""

    __tablename__ = "recommendation_replica"
    id: uuid.UUID = Field(primary_key=True)
    version: int
    status: str
    seminar_id: uuid.UUID = Field(index=True)
    seminar_host_city: str
    seminar_theme: str
    target_city: str
    dimension: Dimension
    title: str
    text: str
    due_date: date | None = None
    # For peer learning ("the same advice elsewhere"); UUIDs as text, since JSON has no UUID.
    tags: list[str] = Field(default_factory=list, sa_type=JSON)
    related_ids: list[str] = Field(default_factory=list, sa_type=JSON)
    updated_at: datetime


class LinkEvidence(Base, table=True):
    """What a follow-up shows of an inter-cluster link that answers its recommendation, kept from
    cluster_link.* events: the link's id, version (a late or replayed event changes nothing) and
    the fields shown, no more. The link's own data stays in the recommendations service."""

    __tablename__ = "cluster_link_evidence"
    link_id: uuid.UUID = Field(primary_key=True)
    version: int
    status: ClusterLinkStatus
    kind: ClusterLinkKind
    title: str
    public: bool
    first_seen: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class LinkAnswer(Base, table=True):
    """A recommendation that a link answers (so a follow-up finds its links by its recommendation)."""

    __tablename__ = "cluster_link_answer"
    # Deferred, as for follow-ups: a batch's inserts are flushed together at commit, in whatever order.
    link_id: uuid.UUID = Field(
        primary_key=True,
        sa_column_args=[ForeignKey("cluster_link_evidence.link_id", deferrable=True, initially="DEFERRED")],
    )
    recommendation_id: uuid.UUID = Field(primary_key=True, index=True)


class FollowUp(Base, table=True):
    __tablename__ = "followup"
    __table_args__ = (UniqueConstraint("recommendation_id", "city", name="uq_followup_recommendation_city"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # Deferred: a batch's inserts are flushed together at commit, in whatever order (see service.py).
    recommendation_id: uuid.UUID = Field(
        index=True, sa_column_args=[ForeignKey("recommendation_replica.id", deferrable=True, initially="DEFERRED")]
    )
    city: str = Field(index=True)
    response: Response = Response.pending
    response_justification: str | None = None
    implementation_status: ImplementationStatus = Field(default=ImplementationStatus.not_started, index=True)
    verification: Verification = Verification.unverified
    verification_comment: str | None = None
    responsible_body: str | None = None
    owner: str | None = None
    planned_completion: date | None = None
    notes: str | None = None
    due_date: date | None = Field(default=None, index=True)
    closed: bool = False
    closed_reason: str | None = None
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class FollowUpPublic(SQLModel):
    id: uuid.UUID
    recommendation_id: uuid.UUID
    recommendation_version: int
    recommendation_title: str
    recommendation_text: str
    seminar_id: uuid.UUID
    dimension: Dimension
    city: str
    response: Response
    response_justification: str | None
    implementation_status: ImplementationStatus
    verification: Verification
    verification_comment: str | None
    responsible_body: str | None
    owner: str | None
    planned_completion: date | None
    notes: str | None
    due_date: date | None
    overdue: bool
    due_soon: bool  # due within the service's due_soon_days, not yet late, open and unfinished
    closed: bool
    closed_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    # What the city may choose now (from the workflow rules), so clients offer only those.
    allowed_statuses: list[ImplementationStatus] = []
    allowed_responses: list[Response] = []


class FollowUpUpdate(SQLModel):
    """What a city official may change. `comment` goes into the history (and justifies a rejection)."""

    response: Response | None = None
    implementation_status: ImplementationStatus | None = None
    comment: Comment | None = None
    responsible_body: ShortText | None = None
    owner: ShortText | None = None
    planned_completion: date | None = None
    notes: Annotated[str, StringConstraints(max_length=20_000)] | None = None


class FollowUpChange(Base, table=True):
    """History: one row per changed field, with who and when (and the system's own changes)."""

    __tablename__ = "followup_history"
    id: int | None = Field(default=None, primary_key=True)
    followup_id: uuid.UUID = Field(index=True, sa_column_args=[ForeignKey("followup.id", deferrable=True, initially="DEFERRED")])
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_id: str
    actor_role: str
    field: str
    old: str | None = None
    new: str | None = None
    comment: str | None = None
    via: str | None = Field(default=None, max_length=60)  # how the change came: None = the API/form
    # The evidence an "evidence" entry added: who may read the entry is who may see that evidence
    # (no foreign key: the history stays as written, whatever becomes of the evidence)
    evidence_id: uuid.UUID | None = None


class ChangePublic(SQLModel):
    at: datetime
    actor_id: str
    actor_role: str
    field: str
    old: str | None
    new: str | None
    comment: str | None
    via: str | None = Field(default=None, description='"imported from a spreadsheet" for changes an upload made')


class EvidenceCreate(SQLModel):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    url: AnyHttpUrl | None = None
    file_name: ShortText | None = None
    media_type: Annotated[str, StringConstraints(pattern=r"^[\w.+-]+/[\w.+-]+$", max_length=100)] | None = None
    size_bytes: int | None = Field(default=None, ge=0, le=10_000_000_000)
    public: bool = False

    @model_validator(mode="after")
    def _something_to_point_at(self) -> EvidenceCreate:
        if self.url is None and self.file_name is None:
            raise ValueError("evidence needs a `url` or the metadata of an uploaded file (`file_name`)")
        return self


class Evidence(Base, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    followup_id: uuid.UUID = Field(foreign_key="followup.id", index=True)
    title: str
    url: str | None = None
    file_name: str | None = None
    media_type: str | None = None
    size_bytes: int | None = None
    public: bool = False
    added_by: str
    added_at: datetime = Field(default_factory=utcnow)


class EvidenceFile(Base, table=True):
    """An uploaded evidence file's bytes, kept apart from the evidence row so lists never load them."""

    __tablename__ = "evidence_file"
    evidence_id: uuid.UUID = Field(foreign_key="evidence.id", primary_key=True)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sha256: str = Field(max_length=64)


class EvidencePublic(SQLModel):
    id: uuid.UUID
    title: str
    url: str | None
    file_name: str | None
    media_type: str | None
    size_bytes: int | None
    public: bool
    added_by: str
    added_at: datetime
    # Where an uploaded file is downloaded from (None for a link).
    download_path: str | None = None
    source: Literal["city", "cluster_link"] = Field(
        default="city", description="`city`: added by the city; `cluster_link`: an inter-cluster link that answers it"
    )
    cluster_link_id: uuid.UUID | None = None
    cluster_link_kind: ClusterLinkKind | None = None
    cluster_link_status: ClusterLinkStatus | None = Field(default=None, description="The link's current status")

    @classmethod
    def of_link(cls, link: LinkEvidence) -> EvidencePublic:
        return cls(
            id=link.link_id,
            title=link.title,
            url=None,
            file_name=None,
            media_type=None,
            size_bytes=None,
            public=link.public,
            added_by="cluster_link",
            added_at=link.first_seen,
            source="cluster_link",
            cluster_link_id=link.link_id,
            cluster_link_kind=link.kind,
            cluster_link_status=link.status,
        )


class FollowUpEvidence(SQLModel):
    """One follow-up's evidence, as `GET /follow-ups/{id}/evidence` lists it."""

    followup_id: uuid.UUID
    evidence: list[EvidencePublic]


class PeerFollowUp(SQLModel):
    """How another city fared with the same advice: its follow-up and public evidence only."""

    followup_id: uuid.UUID
    city: str
    recommendation_id: uuid.UUID
    recommendation_title: str
    seminar_id: uuid.UUID
    dimension: Dimension
    related: bool = Field(description="One recommendation names the other in related_ids")
    shared_tags: list[str]
    response: Response
    implementation_status: ImplementationStatus
    verification: Verification
    closed: bool
    evidence: list[EvidencePublic]


class VerificationCreate(SQLModel):
    verification: Verification
    comment: Comment | None = None


class DeadlineNotice(Base, table=True):
    """One row per (follow-up, kind, due date): the unique key makes each notice fire once."""

    __tablename__ = "deadline_notice"
    followup_id: uuid.UUID = Field(foreign_key="followup.id", primary_key=True)
    kind: str = Field(primary_key=True)  # due_soon | overdue
    due_date: date = Field(primary_key=True)
    sent_at: datetime = Field(default_factory=utcnow)


class ProgressGroup(SQLModel):
    key: str
    total: int
    by_status: dict[str, int]
    by_response: dict[str, int]
    implemented_share: float
    overdue: int


class OverdueItem(SQLModel):
    id: uuid.UUID
    city: str
    recommendation_title: str
    due_date: date
    implementation_status: ImplementationStatus


class Progress(SQLModel):
    by: str
    as_of: date
    groups: list[ProgressGroup]
    overdue: list[OverdueItem]


class ProgressCell(SQLModel):
    """One follow-up as it stood on a day: a cell of the lead partner's city x seminar matrix."""

    id: uuid.UUID
    city: str
    seminar_id: uuid.UUID
    seminar_host_city: str
    seminar_theme: str
    recommendation_id: uuid.UUID
    recommendation_title: str
    recommendation_text: str | None = Field(default=None, description="With `with_text=true` only (for exports)")
    dimension: str
    response: str
    implementation_status: ImplementationStatus
    overdue: bool


class ProgressCells(SQLModel):
    as_of: date
    cells: list[ProgressCell]


class TimelinePoint(SQLModel):
    """Where the follow-ups stood at the end of a month (the last point: today)."""

    month: str  # YYYY-MM
    as_of: date
    total: int
    implemented: int
    implemented_share: float


class ProgressTimeline(SQLModel):
    points: list[TimelinePoint]


class FollowUpImport(SQLModel):
    """The answer of a follow-up upload: each row's plan (or, once applied, what happened), and errors."""

    rows: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    counts: dict[str, int]
    dry_run: bool
