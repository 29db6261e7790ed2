"""Tables and API shapes of the recommendations service (the SQLModel family, side by side)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import ConfigDict, StringConstraints, field_validator
from sqlalchemy import JSON, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.contracts.common import Dimension, Slug
from shared.contracts.recommendations import (
    ClusterLinkKind,
    ClusterLinkStatus,
    RecommendationStatus,
    SeminarStatus,
)
from shared.platform.idempotency import IdempotencyFields
from shared.platform.jobs import JobFields
from shared.platform.outbox import OutboxFields

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2_000)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(SQLModel, registry=registry()):
    """This service's own metadata: its tables and only its tables."""


class Outbox(OutboxFields, Base, table=True):
    __tablename__ = "outbox"


# Partners ---------------------------------------------------------------------------------
class PartnerBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(default="city", regex="^(city|organisation)$")
    country: str | None = Field(default=None, max_length=80)
    is_lead: bool = False
    contact_email: str | None = Field(default=None, max_length=254)


class PartnerCreate(PartnerBase):
    slug: Slug


class Partner(PartnerBase, Base, table=True):
    slug: str = Field(primary_key=True, max_length=64)


# Clusters ---------------------------------------------------------------------------------
class ClusterBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    sector: str = Field(min_length=1, max_length=200)
    city: str = Field(max_length=64, foreign_key="partner.slug")


class ClusterCreate(ClusterBase):
    slug: Slug


class Cluster(ClusterBase, Base, table=True):
    slug: str = Field(primary_key=True, max_length=64)


# Seminars ---------------------------------------------------------------------------------
class SeminarCreate(SQLModel):
    host_city: Slug
    theme: Title
    cluster: Slug
    held_on: date


class Seminar(Base, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    host_city: str = Field(foreign_key="partner.slug", index=True)
    theme: str
    cluster: str = Field(foreign_key="cluster.slug")
    held_on: date
    status: SeminarStatus = SeminarStatus.scheduled
    created_at: datetime = Field(default_factory=utcnow)


class SeminarPublic(SQLModel):
    id: uuid.UUID
    host_city: str
    theme: str
    cluster: str
    held_on: date
    status: SeminarStatus


# Recommendations --------------------------------------------------------------------------
class RecommendationFields(SQLModel):
    """The fields a lead partner writes (in a draft, and again in a revision)."""

    title: Title
    text: LongText
    dimension: Dimension
    rationale: str | None = Field(default=None, max_length=20_000)
    priority: str = Field(default="medium", regex="^(high|medium|low)$")
    due_date: date | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20, sa_type=JSON)
    related_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50, sa_type=JSON)


class RecommendationDraft(RecommendationFields):
    target_city: Slug | None = None  # the host city when absent


class RecommendationRevision(SQLModel):
    """A revision: the reason, and the fields that change (others keep their value)."""

    reason: Reason
    title: Title | None = None
    text: LongText | None = None
    dimension: Dimension | None = None
    rationale: str | None = Field(default=None, max_length=20_000)
    priority: str | None = Field(default=None, regex="^(high|medium|low)$")
    due_date: date | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)


class Withdrawal(SQLModel):
    reason: Reason


class Recommendation(RecommendationFields, Base, table=True):
    __table_args__ = (UniqueConstraint("seminar_id", "import_key", name="uq_recommendation_seminar_import_key"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    seminar_id: uuid.UUID = Field(foreign_key="seminar.id", index=True)
    target_city: str = Field(foreign_key="partner.slug", index=True)
    status: RecommendationStatus = Field(default=RecommendationStatus.draft, index=True)
    version: int = 1
    status_reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # The content hash of the spreadsheet row it was imported from (importing.content_key):
    # importing the same row into the same seminar again creates nothing new.
    import_key: str | None = Field(default=None, max_length=64)

    @field_validator("related_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return [uuid.UUID(str(v)) for v in value or []]


class RecommendationPublic(RecommendationFields):
    id: uuid.UUID
    seminar_id: uuid.UUID
    target_city: str
    status: RecommendationStatus
    version: int
    status_reason: str | None
    created_at: datetime
    updated_at: datetime


class RecommendationEvent(Base, table=True):
    """History: every version and transition, with who and when."""

    __tablename__ = "recommendation_history"
    id: int | None = Field(default=None, primary_key=True)
    recommendation_id: uuid.UUID = Field(foreign_key="recommendation.id", index=True)
    version: int
    action: str  # drafted | issued | revised | withdrawn
    reason: str | None = None
    actor_id: str
    actor_role: str
    snapshot: dict[str, Any] = Field(sa_type=JSON)
    at: datetime = Field(default_factory=utcnow)


class HistoryEntryPublic(SQLModel):
    version: int
    action: str
    reason: str | None
    actor_id: str
    actor_role: str
    at: datetime
    snapshot: dict[str, Any]


# Inter-cluster links ------------------------------------------------------------------------
class StaffExchangeFields(SQLModel):
    person: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    home_city: Slug
    learned: str | None = Field(default=None, max_length=20_000, description="What was learned (may come at the end)")


class ClusterLinkCreate(SQLModel):
    model_config = ConfigDict(  # type: ignore[assignment]
        json_schema_extra={
            "examples": [
                {
                    "clusters": ["mediacityuk", "leipzig-biocluster"],
                    "kind": "staff_exchange",
                    "description": "A BioCluster project officer spends a month at MediaCityUK",
                    "starts_on": "2010-09-01",
                    "ends_on": "2010-09-30",
                    "staff_exchange": {"person": "Project officer, BioCluster", "home_city": "leipzig"},
                    "public": True,
                }
            ]
        }
    )
    clusters: list[Slug] = Field(min_length=2, max_length=20, description="Slugs of two or more clusters in different cities")
    kind: ClusterLinkKind
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5_000)]
    starts_on: date | None = None
    ends_on: date | None = None
    recommendation_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    public: bool = Field(default=True, description="Shown on the public network page and as public evidence")
    staff_exchange: StaffExchangeFields | None = Field(default=None, description="Only for kind staff_exchange")


class ClusterLinkTransition(SQLModel):
    """Optional details of a transition: why, on which day, and (ending a staff exchange) what was learned."""

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)] | None = None
    on: date | None = Field(default=None, description="The day it happened (activate: starts_on, end: ends_on)")
    learned: str | None = Field(default=None, max_length=20_000, description="Ending a staff exchange: what was learned")


class ClusterLink(Base, table=True):
    __tablename__ = "cluster_link"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: ClusterLinkKind = Field(index=True)
    description: str
    status: ClusterLinkStatus = Field(default=ClusterLinkStatus.proposed, index=True)
    version: int = 1
    starts_on: date | None = None
    ends_on: date | None = None
    public: bool = True
    recommendation_ids: list[str] = Field(default_factory=list, sa_type=JSON)  # UUIDs as text: JSON has no UUID
    staff_person: str | None = None
    staff_home_city: str | None = Field(default=None, foreign_key="partner.slug")
    staff_learned: str | None = None
    status_reason: str | None = None
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ClusterLinkMember(Base, table=True):
    """One cluster of a link (the join lets lists filter by cluster or city in the database)."""

    __tablename__ = "cluster_link_member"
    link_id: uuid.UUID = Field(foreign_key="cluster_link.id", primary_key=True)
    cluster: str = Field(foreign_key="cluster.slug", primary_key=True, index=True)
    position: int  # the order the clusters were named in


class NetworkNode(SQLModel):
    slug: str
    name: str
    sector: str
    city: str


class NetworkEdge(SQLModel):
    id: uuid.UUID
    clusters: list[str]
    kind: ClusterLinkKind
    status: ClusterLinkStatus
    starts_on: date | None
    ends_on: date | None
    public: bool
    description: str


class Network(SQLModel):
    """The clusters of the partner cities and the links between them (a link of n clusters joins them all)."""

    nodes: list[NetworkNode]
    edges: list[NetworkEdge]


class IdempotencyRecord(IdempotencyFields, Base, table=True):
    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("actor_id", "key", name="uq_idempotency_actor_key"),)


class ImportJob(JobFields, Base, table=True):
    """A large spreadsheet import, worked in the background (shared/platform/jobs.py)."""

    __tablename__ = "import_job"


class ImportPreview(SQLModel):
    """The answer of an import: what each row creates (or that it exists already), and every error."""

    rows: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    created: int = 0
    unchanged: int = 0
    dry_run: bool
