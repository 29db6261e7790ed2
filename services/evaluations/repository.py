"""Queries of the evaluations service. No commits here: the service layer commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, case, cast, literal, or_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.evaluations.models import (
    DeadlineNotice,
    Evidence,
    EvidenceFile,
    FollowUp,
    FollowUpChange,
    LinkAnswer,
    LinkEvidence,
    RecommendationReplica,
)
from services.evaluations.workflow import FINAL_STATUSES
from shared.contracts.common import Dimension
from shared.contracts.followups import ImplementationStatus, Response, Verification
from shared.contracts.recommendations import ClusterLinkStatus
from shared.platform.db import any_of, copy_rows
from shared.platform.pagination import PageParams

Row = tuple[FollowUp, RecommendationReplica]


@dataclass
class FollowUpFilter:
    city: str | None = None
    status: ImplementationStatus | None = None
    response: Response | None = None
    verification: Verification | None = None
    seminar: uuid.UUID | None = None
    dimension: Dimension | None = None
    overdue: bool | None = None
    closed: bool | None = None
    awaiting_verification: bool | None = None  # see workflow.awaits_verification
    updated_since: datetime | None = None


def open_and_unfinished() -> ColumnElement[bool]:
    return ~col(FollowUp.closed) & col(FollowUp.implementation_status).not_in(FINAL_STATUSES)


def overdue_on(day: date) -> ColumnElement[bool]:
    """workflow.is_overdue as a query condition (a test holds the two equal)."""
    return (col(FollowUp.due_date) < day) & open_and_unfinished()


def _filtered(f: FollowUpFilter, today: date) -> Select[Row]:
    query = select(FollowUp, RecommendationReplica).join(
        RecommendationReplica, col(FollowUp.recommendation_id) == RecommendationReplica.id
    )
    for column, value in (
        (FollowUp.city, f.city),
        (FollowUp.implementation_status, f.status),
        (FollowUp.response, f.response),
        (FollowUp.verification, f.verification),
        (RecommendationReplica.seminar_id, f.seminar),
        (RecommendationReplica.dimension, f.dimension),
        (FollowUp.closed, f.closed),
    ):
        if value is not None:
            query = query.where(column == value)
    if f.overdue is not None:
        overdue = overdue_on(today)
        query = query.where(overdue if f.overdue else ~overdue | col(FollowUp.due_date).is_(None))
    if f.updated_since is not None:
        query = query.where(col(FollowUp.updated_at) > f.updated_since)
    if f.awaiting_verification is not None:
        # workflow.awaits_verification in SQL: a city's answer the lead partner has not judged yet
        awaiting = (
            (col(FollowUp.verification) == Verification.unverified)
            & (col(FollowUp.response) != Response.pending)
            & ~col(FollowUp.closed)
        )
        query = query.where(awaiting if f.awaiting_verification else ~awaiting)
    return query.order_by(col(FollowUp.created_at), col(FollowUp.id))  # type: ignore[return-value]


async def list_followups(session: AsyncSession, f: FollowUpFilter, today: date, page: PageParams | None = None) -> Sequence[Row]:
    query = _filtered(f, today)
    if page is not None:
        query = query.offset(page.offset).limit(page.limit + 1)
    return (await session.exec(query)).all()  # type: ignore[call-overload]


async def get_row(session: AsyncSession, followup_id: uuid.UUID, *, for_update: bool = False) -> Row | None:
    """The follow-up and its recommendation in one statement: one snapshot, never a torn view
    (two reads under READ COMMITTED could straddle a consumer's commit)."""
    query = (
        select(FollowUp, RecommendationReplica)
        .join(RecommendationReplica, col(FollowUp.recommendation_id) == RecommendationReplica.id)
        .where(FollowUp.id == followup_id)
    )
    if for_update:
        query = query.with_for_update(of=FollowUp)
    row = (await session.exec(query)).first()
    return (row[0], row[1]) if row else None


async def followup_for(session: AsyncSession, recommendation_id: uuid.UUID, city: str) -> FollowUp | None:
    query = select(FollowUp).where(FollowUp.recommendation_id == recommendation_id, FollowUp.city == city).with_for_update()
    return (await session.exec(query)).first()


async def replicas(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RecommendationReplica]:
    query = select(RecommendationReplica).where(any_of(col(RecommendationReplica.id), ids)).with_for_update()
    return {r.id: r for r in (await session.exec(query)).all()}


async def insert_many(session: AsyncSession, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """COPY on the session's connection (shared/platform/db.py `copy_rows`): no ORM object per row,
    not the ORM's bulk path (about as costly per row as building the objects), and not a Core
    executemany either (every value through SQLAlchemy's bind processors)."""
    await copy_rows(session, model.__table__, rows)  # type: ignore[attr-defined]


async def followups_of_many(session: AsyncSession, recommendation_ids: Sequence[uuid.UUID]) -> Sequence[FollowUp]:
    query = select(FollowUp).where(any_of(col(FollowUp.recommendation_id), recommendation_ids)).with_for_update()
    return (await session.exec(query)).all()


async def history(session: AsyncSession, followup_id: uuid.UUID) -> Sequence[FollowUpChange]:
    query = select(FollowUpChange).where(FollowUpChange.followup_id == followup_id).order_by(col(FollowUpChange.id))
    return (await session.exec(query)).all()


async def evidence(session: AsyncSession, followup_id: uuid.UUID) -> Sequence[Evidence]:
    query = select(Evidence).where(Evidence.followup_id == followup_id).order_by(col(Evidence.added_at))
    return (await session.exec(query)).all()


async def evidence_of_followups(session: AsyncSession, followup_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Evidence]]:
    """Each follow-up's evidence, oldest first, in one read."""
    found: dict[uuid.UUID, list[Evidence]] = {followup_id: [] for followup_id in followup_ids}
    if followup_ids:
        query = select(Evidence).where(any_of(col(Evidence.followup_id), followup_ids)).order_by(col(Evidence.added_at))
        for item in (await session.exec(query)).all():
            found[item.followup_id].append(item)
    return found


async def changes_until(session: AsyncSession, city: str | None, until: datetime) -> Sequence[FollowUpChange]:
    """The history of every follow-up (of `city`, when given) up to `until`, in the order it was
    written. By the city, not by a list of ids: a statement takes at most 32,767 values."""
    query = (
        select(FollowUpChange)
        .join(FollowUp, col(FollowUp.id) == FollowUpChange.followup_id)
        .where(col(FollowUpChange.at) <= until)
        .order_by(col(FollowUpChange.at), col(FollowUpChange.id))
    )
    if city is not None:
        query = query.where(FollowUp.city == city)
    return (await session.exec(query)).all()


async def due_candidates(session: AsyncSession, today: date, until: date) -> Sequence[Row]:
    """Open, unfinished follow-ups due on or before `until`, with their recommendation, but for those
    whose notice of the kind they have now (`deadlines.kind_on`) was sent: every tick read and claimed
    each candidate again, one round trip apiece (5,595 a minute, 1.3 s of CPU, at a programme's
    scale). The claim still decides; this only spares the ones already decided."""
    kind = case((overdue_on(today), literal("overdue")), else_=literal("due_soon"))  # deadlines.kind_on
    noticed = (
        select(DeadlineNotice.followup_id)
        .where(
            DeadlineNotice.followup_id == FollowUp.id, DeadlineNotice.kind == kind, DeadlineNotice.due_date == FollowUp.due_date
        )
        .exists()
    )
    query = (
        select(FollowUp, RecommendationReplica)
        .join(RecommendationReplica, col(FollowUp.recommendation_id) == RecommendationReplica.id)
        .where(col(FollowUp.due_date) <= until, open_and_unfinished(), ~noticed)
    )
    return (await session.exec(query)).all()


async def link_evidence(session: AsyncSession, recommendation_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[LinkEvidence]]:
    """The links (not cancelled) that answer each of these recommendations, oldest first."""
    if not recommendation_ids:
        return {}
    query = (
        select(LinkAnswer.recommendation_id, LinkEvidence)
        .join(LinkEvidence, col(LinkEvidence.link_id) == LinkAnswer.link_id)
        .where(col(LinkAnswer.recommendation_id).in_(recommendation_ids), LinkEvidence.status != ClusterLinkStatus.cancelled)
        .order_by(col(LinkEvidence.first_seen), col(LinkEvidence.link_id))
    )
    found: dict[uuid.UUID, list[LinkEvidence]] = {rec_id: [] for rec_id in recommendation_ids}
    for rec_id, link in (await session.exec(query)).all():
        found[rec_id].append(link)
    return found


async def peer_candidates(session: AsyncSession, subject: FollowUp, replica: RecommendationReplica) -> Sequence[Row]:
    """The other cities' follow-ups that may be the same advice as `subject`, with their recommendation:
    the same dimension, or related either way. A superset, narrowed in SQL; `peers.match` decides.
    (Reading every other city's follow-up took 0.27 s of a follow-up page at 6,000.)"""
    named = [uuid.UUID(x) for x in replica.related_ids or () if _is_uuid(x)]
    naming_it = cast(RecommendationReplica.related_ids, String).contains(f'"{replica.id}"')  # JSON text: ids quoted
    query = (
        select(FollowUp, RecommendationReplica)
        .join(RecommendationReplica, col(FollowUp.recommendation_id) == RecommendationReplica.id)
        .where(
            FollowUp.city != subject.city,
            or_(col(RecommendationReplica.dimension) == replica.dimension, col(RecommendationReplica.id).in_(named), naming_it),
        )
        .order_by(col(FollowUp.city), col(FollowUp.created_at))
    )
    return (await session.exec(query)).all()


def _is_uuid(text: str) -> bool:
    """Whether `text` names a recommendation (related_ids are kept as text)."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


async def public_evidence_of(session: AsyncSession, followup_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Evidence]]:
    if not followup_ids:
        return {}
    query = (
        select(Evidence).where(col(Evidence.followup_id).in_(followup_ids), col(Evidence.public)).order_by(col(Evidence.added_at))
    )
    found: dict[uuid.UUID, list[Evidence]] = {f: [] for f in followup_ids}
    for item in (await session.exec(query)).all():
        found[item.followup_id].append(item)
    return found


async def rows_by_ids(session: AsyncSession, followup_ids: Sequence[uuid.UUID]) -> Sequence[Row]:
    if not followup_ids:
        return []
    query = (
        select(FollowUp, RecommendationReplica)
        .join(RecommendationReplica, col(FollowUp.recommendation_id) == RecommendationReplica.id)
        .where(col(FollowUp.id).in_(followup_ids))
    )
    return (await session.exec(query)).all()


async def evidence_ids_with_files(session: AsyncSession, evidence_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    if not evidence_ids:
        return set()
    query = select(EvidenceFile.evidence_id).where(col(EvidenceFile.evidence_id).in_(evidence_ids))
    return set((await session.exec(query)).all())


async def evidence_file(
    session: AsyncSession, followup_id: uuid.UUID, evidence_id: uuid.UUID
) -> tuple[Evidence, EvidenceFile] | None:
    query = (
        select(Evidence, EvidenceFile)
        .join(EvidenceFile, col(EvidenceFile.evidence_id) == Evidence.id)
        .where(Evidence.id == evidence_id, Evidence.followup_id == followup_id)
    )
    row = (await session.exec(query)).first()
    return (row[0], row[1]) if row else None


async def claim_deadline_notice(session: AsyncSession, followup_id: uuid.UUID, kind: str, due_date: date) -> bool:
    """Record the notice of a follow-up's deadline; False when it was recorded before (by an
    earlier tick, or another instance: the insert waits on the unique key for that transaction)."""
    stmt = insert(DeadlineNotice).values(followup_id=followup_id, kind=kind, due_date=due_date, sent_at=datetime.now(UTC))
    return (await session.execute(stmt.on_conflict_do_nothing().returning(col(DeadlineNotice.kind)))).first() is not None
