"""Use cases of the recommendations service. Each is one transaction, committed here, once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.recommendations import domain, repository
from services.recommendations.models import (
    Cluster,
    ClusterCreate,
    IdempotencyRecord,
    Partner,
    PartnerCreate,
    Recommendation,
    RecommendationDraft,
    RecommendationEvent,
    RecommendationPublic,
    RecommendationRevision,
    Seminar,
    SeminarCreate,
    SeminarPublic,
)
from shared.contracts.common import Actor
from shared.contracts.envelope import Event, Payload, source_of
from shared.contracts.recommendations import (
    RecommendationIssued,
    RecommendationRevised,
    RecommendationState,
    RecommendationWithdrawn,
    SeminarHeld,
    SeminarReportPublished,
    SeminarScheduled,
    SeminarState,
    SeminarStatus,
)
from shared.platform.db import autocommit_connection
from shared.platform.errors import Conflict, Invalid, NotFound
from shared.platform.idempotency import run_once
from shared.platform.outbox import EventSink
from shared.platform.runtime import Runtime

SOURCE = source_of("recommendations")
ISSUE_ATTEMPTS = 3  # reads of a recommendation that changed between the read and the write of an issue


def seminar_state(seminar: Seminar) -> SeminarState:
    return SeminarState.model_validate(seminar, from_attributes=True)


def recommendation_state(rec: Recommendation, seminar: Seminar) -> RecommendationState:
    return RecommendationState(**RecommendationPublic.model_validate(rec).model_dump(), seminar=seminar_state(seminar))


def _emit(session: AsyncSession, sink: EventSink, payload: Payload, subject: uuid.UUID) -> None:
    sink.publish(session, Event.of(payload, source=SOURCE, subject=str(subject)))


def _record(session: AsyncSession, rec: Recommendation, action: str, actor: Actor, reason: str | None = None) -> None:
    snapshot = RecommendationPublic.model_validate(rec).model_dump(mode="json")
    session.add(
        RecommendationEvent(
            recommendation_id=rec.id,
            version=rec.version,
            action=action,
            reason=reason,
            actor_id=actor.id,
            actor_role=actor.role,
            snapshot=snapshot,
        )
    )


async def _city(session: AsyncSession, slug: str, what: str) -> Partner:
    partner = await repository.get_partner(session, slug)
    if partner is None or partner.kind != "city":
        raise Invalid(f"{what} {slug!r} is not a CLUSNET partner city")
    return partner


async def create_partner(session: AsyncSession, data: PartnerCreate) -> Partner:
    if await repository.get_partner(session, data.slug):
        raise Conflict(f"partner {data.slug!r} exists already")
    partner = Partner.model_validate(data)
    session.add(partner)
    await session.commit()
    return partner


async def create_cluster(session: AsyncSession, data: ClusterCreate) -> Cluster:
    await _city(session, data.city, "city")
    if await repository.get_cluster(session, data.slug):
        raise Conflict(f"cluster {data.slug!r} exists already")
    cluster = Cluster.model_validate(data)
    session.add(cluster)
    await session.commit()
    return cluster


async def schedule_seminar(
    session: AsyncSession, sink: EventSink, data: SeminarCreate, actor: Actor, idempotency_key: str | None = None
) -> SeminarPublic:
    async def create() -> dict[str, Any]:
        return SeminarPublic.model_validate(await stage_seminar(session, sink, data, actor)).model_dump(mode="json")

    request = data.model_dump(mode="json")
    body = await run_once(session, IdempotencyRecord, actor_id=actor.id, key=idempotency_key, request=request, create=create)
    await session.commit()
    return SeminarPublic.model_validate(body)


async def draft(
    session: AsyncSession,
    seminar_id: uuid.UUID,
    data: RecommendationDraft,
    actor: Actor,
    idempotency_key: str | None = None,
) -> RecommendationPublic:
    async def create() -> dict[str, Any]:
        rec = await stage_draft(session, seminar_id, data, actor)
        return RecommendationPublic.model_validate(rec).model_dump(mode="json")

    request = {"seminar": str(seminar_id), **data.model_dump(mode="json")}
    body = await run_once(session, IdempotencyRecord, actor_id=actor.id, key=idempotency_key, request=request, create=create)
    await session.commit()
    return RecommendationPublic.model_validate(body)


async def stage_seminar(session: AsyncSession, sink: EventSink, data: SeminarCreate, actor: Actor) -> Seminar:
    """Schedule a seminar in the open transaction (for idempotent requests and the seed)."""
    await _city(session, data.host_city, "host_city")
    if await repository.get_cluster(session, data.cluster) is None:
        raise Invalid(f"cluster {data.cluster!r} does not exist (see GET /clusters)")
    seminar = Seminar(host_city=data.host_city, theme=data.theme, cluster=data.cluster, held_on=data.held_on)
    session.add(seminar)
    await session.flush()
    _emit(session, sink, SeminarScheduled(seminar=seminar_state(seminar), actor=actor), seminar.id)
    return seminar


async def seminar_or_404(session: AsyncSession, seminar_id: uuid.UUID, *, for_update: bool = False) -> Seminar:
    seminar = await repository.get_seminar(session, seminar_id, for_update=for_update)
    if seminar is None:
        raise NotFound(f"seminar {seminar_id} does not exist")
    return seminar


async def recommendation_or_404(session: AsyncSession, rec_id: uuid.UUID, *, for_update: bool = False) -> Recommendation:
    rec = await repository.get_recommendation(session, rec_id, for_update=for_update)
    if rec is None:
        raise NotFound(f"recommendation {rec_id} does not exist")
    return rec


async def stage_draft(session: AsyncSession, seminar_id: uuid.UUID, draft: RecommendationDraft, actor: Actor) -> Recommendation:
    """Add a draft in the open transaction; drafts emit no event (nothing is issued yet)."""
    seminar = await seminar_or_404(session, seminar_id)
    target = draft.target_city or seminar.host_city
    await _city(session, target, "target_city")
    domain.check_due_date(draft.due_date, seminar.held_on)
    missing = set(draft.related_ids) - await repository.existing_ids(session, draft.related_ids)
    if missing:
        raise Invalid(f"related_ids name recommendations that do not exist: {', '.join(sorted(map(str, missing)))}")
    rec = Recommendation.model_validate({**draft.model_dump(), "seminar_id": seminar.id, "target_city": target})
    session.add(rec)
    await session.flush()
    _record(session, rec, "drafted", actor)
    return rec


async def issue(runtime: Runtime, rec_id: uuid.UUID, actor: Actor) -> RecommendationPublic:
    """Issue one recommendation: the hot path of the API (bench row 1), so two round trips on a
    pooled connection, no ORM session or objects: read the row with its seminar, then one
    statement, its own transaction, that changes the status, adds the history entry and writes
    the event's outbox row, provided the row is still as read (else read again: a concurrent
    change mostly makes it a 409). That statement commits itself: the relay's wake follows it as
    `commit` would. `_issue` does the same on ORM objects for a seminar's report. The outbox row
    is the one `Runtime.publish` would write (`Runtime.outbox_row`)."""
    async with autocommit_connection(runtime.engine) as connection:
        for _ in range(ISSUE_ATTEMPTS):
            found = await repository.read_with_seminar(connection, rec_id)
            if found is None:
                raise NotFound(f"recommendation {rec_id} does not exist")
            row = found._mapping
            status = domain.next_status(row["status"], domain.Action.issue)
            now = datetime.now(UTC)
            public = RecommendationPublic.model_validate({**row, "status": status, "updated_at": now})
            seminar = SeminarState.model_validate({name: row[f"seminar__{name}"] for name in SeminarState.model_fields})
            state = RecommendationState(**public.model_dump(), seminar=seminar)
            event = Event.of(RecommendationIssued(recommendation=state, actor=actor), source=SOURCE, subject=str(rec_id))
            entry = {"version": public.version, "action": "issued", "actor_id": actor.id, "actor_role": actor.role, "at": now}
            entry["snapshot"] = public.model_dump(mode="json")
            outbox_row = runtime.outbox_row(event)
            if await repository.issue_if_unchanged(connection, rec_id, row["row_version"], status, now, entry, outbox_row):
                return public
    raise Conflict(f"recommendation {rec_id} kept changing while it was being issued; retry")


async def _issue(session: AsyncSession, sink: EventSink, rec: Recommendation, seminar: Seminar, actor: Actor) -> None:
    rec.status = domain.next_status(rec.status, domain.Action.issue)
    rec.updated_at = datetime.now(UTC)
    _record(session, rec, "issued", actor)
    _emit(session, sink, RecommendationIssued(recommendation=recommendation_state(rec, seminar), actor=actor), rec.id)


async def revise(
    session: AsyncSession, sink: EventSink, rec_id: uuid.UUID, change: RecommendationRevision, actor: Actor
) -> Recommendation:
    rec = await recommendation_or_404(session, rec_id, for_update=True)
    seminar = await seminar_or_404(session, rec.seminar_id)
    rec.status = domain.next_status(rec.status, domain.Action.revise)
    updates = change.model_dump(exclude_unset=True, exclude={"reason"})
    if not updates:
        raise Invalid("a revision must change at least one field (title, text, dimension, rationale, priority, due_date, tags)")
    domain.check_due_date(updates.get("due_date"), seminar.held_on)
    for name, value in updates.items():
        if value is None and name in ("title", "text", "dimension", "priority", "tags"):
            raise Invalid(f"{name} cannot be emptied in a revision")
        setattr(rec, name, value)
    rec.version += 1
    rec.status_reason = change.reason
    rec.updated_at = datetime.now(UTC)
    _record(session, rec, "revised", actor, change.reason)
    state = recommendation_state(rec, seminar)
    _emit(session, sink, RecommendationRevised(recommendation=state, reason=change.reason, actor=actor), rec.id)
    await session.commit()
    return rec


async def withdraw(session: AsyncSession, sink: EventSink, rec_id: uuid.UUID, reason: str, actor: Actor) -> Recommendation:
    rec = await recommendation_or_404(session, rec_id, for_update=True)
    seminar = await seminar_or_404(session, rec.seminar_id)
    was_draft = rec.status == "draft"
    rec.status = domain.next_status(rec.status, domain.Action.withdraw)
    rec.status_reason = reason
    rec.updated_at = datetime.now(UTC)
    _record(session, rec, "withdrawn", actor, reason)
    if not was_draft:  # nobody outside ever saw a draft: its withdrawal concerns no consumer
        _emit(
            session,
            sink,
            RecommendationWithdrawn(recommendation=recommendation_state(rec, seminar), reason=reason, actor=actor),
            rec.id,
        )
    await session.commit()
    return rec


async def hold(session: AsyncSession, sink: EventSink, seminar_id: uuid.UUID, actor: Actor) -> Seminar:
    """The seminar took place (scheduled → held)."""
    seminar = await seminar_or_404(session, seminar_id, for_update=True)
    domain.holdable(seminar.status)
    seminar.status = SeminarStatus.held
    _emit(session, sink, SeminarHeld(seminar=seminar_state(seminar), actor=actor), seminar.id)
    await session.commit()
    return seminar


async def publish_report(session: AsyncSession, sink: EventSink, seminar_id: uuid.UUID, actor: Actor) -> list[Recommendation]:
    """Publish the seminar report: every draft of the seminar is issued, all in one transaction."""
    seminar = await seminar_or_404(session, seminar_id, for_update=True)
    domain.report_publishable(seminar.status)
    drafts = list(await repository.drafts_of(session, seminar.id))
    seminar.status = SeminarStatus.report_published
    for rec in drafts:
        await _issue(session, sink, rec, seminar, actor)
    payload = SeminarReportPublished(seminar=seminar_state(seminar), recommendation_ids=[r.id for r in drafts], actor=actor)
    _emit(session, sink, payload, seminar.id)
    await session.commit()
    return drafts
