"""Use cases of the evaluations service: what city officials and the lead partner do, and what
the recommendation events do to the follow-ups. Each is one transaction, committed once."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.evaluations import evidence_files, repository, workflow
from services.evaluations.models import (
    Evidence,
    EvidenceCreate,
    EvidenceFile,
    EvidencePublic,
    FollowUp,
    FollowUpChange,
    FollowUpPublic,
    FollowUpUpdate,
    RecommendationReplica,
    VerificationCreate,
)
from shared.contracts.common import Actor
from shared.contracts.envelope import Event, Payload, source_of
from shared.contracts.followups import (
    Change,
    FollowUpEvidenceAdded,
    FollowUpOpened,
    FollowUpResponseRecorded,
    FollowUpState,
    FollowUpStatusChanged,
    FollowUpVerified,
    Verification,
)
from shared.contracts.recommendations import RecommendationState
from shared.platform.auth import Principal, Role
from shared.platform.errors import Conflict, Invalid, NotFound, PreconditionFailed, PreconditionRequired
from shared.platform.outbox import EventSink, commit

SOURCE = source_of("evaluations")
CITY_FIELDS = ("responsible_body", "owner", "planned_completion", "notes")


def etag(followup: FollowUp) -> str:
    return f'"{followup.id}.{followup.version}"'


def is_overdue(f: FollowUp, today: date) -> bool:
    return bool(f.due_date and f.due_date < today and not f.closed and f.implementation_status not in workflow.FINAL_STATUSES)


def to_public(f: FollowUp, r: RecommendationReplica, today: date | None = None) -> FollowUpPublic:
    return FollowUpPublic(
        **f.model_dump(exclude={"recommendation_id"}),
        recommendation_id=r.id,
        recommendation_version=r.version,
        recommendation_title=r.title,
        recommendation_text=r.text,
        seminar_id=r.seminar_id,
        dimension=r.dimension,
        overdue=is_overdue(f, today or datetime.now(UTC).date()),
        allowed_statuses=[] if f.closed else workflow.allowed_statuses(f.implementation_status, f.response),
        allowed_responses=[] if f.closed else workflow.allowed_responses(f.response),
    )


def to_state(f: FollowUp, r: RecommendationReplica) -> FollowUpState:
    return FollowUpState(
        **f.model_dump(include=set(FollowUpState.model_fields) - {"recommendation_title"}),
        recommendation_version=r.version,
        recommendation_title=r.title,
        seminar_id=r.seminar_id,
        dimension=r.dimension,
    )


def emit(session: AsyncSession, sink: EventSink, payload: Payload, followup: FollowUp) -> None:
    sink.publish(session, Event.of(payload, source=SOURCE, subject=str(followup.id)))


def record(
    session: AsyncSession, f: FollowUp, actor: Actor, field: str, old: object, new: object, comment: str | None = None
) -> None:
    session.add(
        FollowUpChange(
            followup_id=f.id,
            actor_id=actor.id,
            actor_role=actor.role,
            field=field,
            comment=comment,
            old=None if old is None else str(getattr(old, "value", old)),
            new=None if new is None else str(getattr(new, "value", new)),
        )
    )


async def row_or_404(session: AsyncSession, followup_id: uuid.UUID, *, for_update: bool = False) -> repository.Row:
    row = await repository.get_row(session, followup_id, for_update=for_update)
    if row is None:
        raise NotFound(f"follow-up {followup_id} does not exist")
    return row


async def readable_row(session: AsyncSession, followup_id: uuid.UUID, principal: Principal) -> repository.Row:
    row = await row_or_404(session, followup_id)
    principal.require_city(row[0].city, "read the follow-ups")
    return row


# --- what city officials do -----------------------------------------------------------------
async def update(
    session: AsyncSession,
    sink: EventSink,
    followup_id: uuid.UUID,
    data: FollowUpUpdate,
    if_match: str | None,
    principal: Principal,
) -> repository.Row:
    principal.require(Role.city_official, why="update follow-ups (only the city's own officials may)")
    followup, replica = await row_or_404(session, followup_id, for_update=True)
    principal.require_city(followup.city, "update the follow-ups")
    if if_match is None:
        raise PreconditionRequired(
            f"send If-Match with the follow-up's ETag (now {etag(followup)}) so no one's change is overwritten"
        )
    if if_match.strip() not in (etag(followup), f"W/{etag(followup)}", "*"):
        raise PreconditionFailed(
            f"the follow-up changed since you read it (now {etag(followup)}); reload it and apply your change again"
        )
    if followup.closed:
        raise Conflict(f"the follow-up is closed: {followup.closed_reason}")
    changes = data.model_dump(exclude_unset=True, exclude={"comment"})
    if not changes:
        raise Invalid(
            "nothing to change: send response, implementation_status, responsible_body, owner, planned_completion or notes"
        )
    actor, comment = principal.actor(), data.comment
    response = data.response or followup.response
    status = data.implementation_status or followup.implementation_status
    if response != followup.response:
        workflow.check_response(followup.response, response, comment)
    workflow.check_status(followup.implementation_status, status, response)
    state_events: list[tuple[type[FollowUpResponseRecorded | FollowUpStatusChanged], Change]] = []
    for name, event_cls, old, new in (
        ("response", FollowUpResponseRecorded, followup.response, response),
        ("implementation_status", FollowUpStatusChanged, followup.implementation_status, status),
    ):
        if new != old:
            record(session, followup, actor, name, old, new, comment)
            state_events.append((event_cls, Change(field=name, old=old, new=new, comment=comment)))
            setattr(followup, name, new)
    if any(change.field == "response" for _, change in state_events):
        followup.response_justification = comment if response in workflow.NEEDS_JUSTIFICATION else None
    for name in CITY_FIELDS:
        if name in changes and changes[name] != getattr(followup, name):
            record(session, followup, actor, name, getattr(followup, name), changes[name], comment)
            setattr(followup, name, changes[name])
    if state_events and followup.verification != Verification.unverified:
        record(
            session, followup, actor, "verification", followup.verification, Verification.unverified, "reset by the city's change"
        )
        followup.verification, followup.verification_comment = Verification.unverified, None
    _touch(followup)
    for event_cls, change in state_events:
        emit(session, sink, event_cls(followup=to_state(followup, replica), actor=actor, change=change), followup)
    await commit(session, sink)
    return followup, replica


async def add_evidence_file(
    session: AsyncSession,
    sink: EventSink,
    followup_id: uuid.UUID,
    principal: Principal,
    *,
    title: str,
    public: bool,
    file_name: str | None,
    content: bytes,
    max_bytes: int,
) -> Evidence:
    principal.require(Role.city_official, why="add evidence (only the city's own officials may)")
    media_type = evidence_files.sniff(content, max_bytes)
    data = EvidenceCreate(
        title=title,
        file_name=evidence_files.safe_file_name(file_name, media_type),
        media_type=media_type,
        size_bytes=len(content),
        public=public,
    )
    return await add_evidence(session, sink, followup_id, data, principal, content)


def may_see(evidence: Evidence, principal: Principal) -> bool:
    """Public evidence is for every reader; private evidence for the city's officials (the
    follow-up's own, checked by readable_row), the lead partner and admins."""
    return evidence.public or principal.role in (Role.city_official, Role.lead_partner, Role.admin)


async def readable_evidence(session: AsyncSession, followup_id: uuid.UUID, principal: Principal) -> list[EvidencePublic]:
    followup, _ = await readable_row(session, followup_id, principal)
    items = [e for e in await repository.evidence(session, followup.id) if may_see(e, principal)]
    with_files = await repository.evidence_ids_with_files(session, [e.id for e in items])
    return [
        EvidencePublic.model_validate(e, from_attributes=True).model_copy(
            update={"download_path": f"/follow-ups/{followup.id}/evidence/{e.id}/file" if e.id in with_files else None}
        )
        for e in items
    ]


async def evidence_file(
    session: AsyncSession, followup_id: uuid.UUID, evidence_id: uuid.UUID, principal: Principal
) -> tuple[Evidence, EvidenceFile]:
    await readable_row(session, followup_id, principal)
    found = await repository.evidence_file(session, followup_id, evidence_id)
    if found is None or not may_see(found[0], principal):  # private evidence does not exist for an integration
        raise NotFound(f"follow-up {followup_id} has no evidence file {evidence_id}")
    return found


async def add_evidence(
    session: AsyncSession,
    sink: EventSink,
    followup_id: uuid.UUID,
    data: EvidenceCreate,
    principal: Principal,
    content: bytes | None = None,
) -> Evidence:
    """A link, or (with `content`, already checked by evidence_files.sniff) an uploaded file."""
    principal.require(Role.city_official, why="add evidence (only the city's own officials may)")
    followup, replica = await row_or_404(session, followup_id, for_update=True)
    principal.require_city(followup.city, "add evidence to the follow-ups")
    if followup.closed:
        raise Conflict(f"the follow-up is closed: {followup.closed_reason}")
    item = Evidence(followup_id=followup.id, added_by=principal.token_id, **data.model_dump(mode="json"))
    session.add(item)
    if content is not None:
        session.add(EvidenceFile(evidence_id=item.id, content=content, sha256=hashlib.sha256(content).hexdigest()))
    record(session, followup, principal.actor(), "evidence", None, data.title)
    _touch(followup)
    payload = FollowUpEvidenceAdded(
        followup=to_state(followup, replica),
        actor=principal.actor(),
        evidence_id=item.id,
        title=item.title,
        url=item.url,
        public=item.public,
    )
    emit(session, sink, payload, followup)
    await commit(session, sink)
    return item


# --- what the lead partner does -------------------------------------------------------------
async def verify(
    session: AsyncSession, sink: EventSink, followup_id: uuid.UUID, data: VerificationCreate, principal: Principal
) -> repository.Row:
    principal.require(Role.lead_partner, why="verify follow-ups")
    followup, replica = await row_or_404(session, followup_id, for_update=True)
    workflow.check_verification(data.verification, followup.response, data.comment)
    change = Change(field="verification", old=followup.verification, new=data.verification, comment=data.comment)
    record(session, followup, principal.actor(), "verification", followup.verification, data.verification, data.comment)
    followup.verification, followup.verification_comment = data.verification, data.comment
    _touch(followup)
    emit(session, sink, FollowUpVerified(followup=to_state(followup, replica), actor=principal.actor(), change=change), followup)
    await commit(session, sink)
    return followup, replica


def _touch(followup: FollowUp) -> None:
    followup.version += 1
    followup.updated_at = datetime.now(UTC)


# --- what recommendation events do (called by the consumer, inside its inbox transaction) ----
async def prefetch(session: AsyncSession, recommendation_ids: list[uuid.UUID]) -> None:
    """Load (and lock) a batch's replicas and follow-ups in two queries, for apply_recommendation."""
    replicas = await repository.replicas(session, recommendation_ids)
    session.info["replicas"] = {rid: replicas.get(rid) for rid in recommendation_ids}
    session.info["followups"] = {
        (f.recommendation_id, f.city): f for f in await repository.followups_of_many(session, recommendation_ids)
    }


async def apply_recommendation(
    session: AsyncSession, sink: EventSink, rec: RecommendationState, actor: Actor, reason: str | None = None
) -> None:
    # No flush per event: the consumer applies a whole batch in one transaction and its inserts go
    # out together at the commit. Lookups use the batch's prefetch (and what this batch added).
    replicas: dict[uuid.UUID, RecommendationReplica | None] = session.info.setdefault("replicas", {})
    followups: dict[tuple[uuid.UUID, str], FollowUp] = session.info.setdefault("followups", {})
    if rec.id not in replicas:
        replicas[rec.id] = await session.get(RecommendationReplica, rec.id, with_for_update=True)
    replica = replicas[rec.id]
    if replica is not None and replica.version > rec.version:
        return  # an older version arriving late changes nothing
    followup = None
    if replica is None:
        replica = replicas[rec.id] = RecommendationReplica(
            id=rec.id,
            version=rec.version,
            status=rec.status.value,
            seminar_id=rec.seminar.id,
            seminar_host_city=rec.seminar.host_city,
            seminar_theme=rec.seminar.theme,
            target_city=rec.target_city,
            dimension=rec.dimension,
            title=rec.title,
            text=rec.text,
            due_date=rec.due_date,
            updated_at=rec.updated_at,
        )
        session.add(replica)
        old_version, old_due = rec.version, rec.due_date
    else:
        old_version, old_due = replica.version, replica.due_date
        key = (rec.id, rec.target_city)
        if key not in followups and (found := await repository.followup_for(session, rec.id, rec.target_city)):
            followups[key] = found
        followup = followups.get(key)
    for name in ("version", "title", "text", "dimension", "due_date", "target_city", "updated_at"):
        setattr(replica, name, getattr(rec, name))
    replica.status = rec.status.value
    if followup is None:
        if rec.status.value != "withdrawn":
            followups[(rec.id, rec.target_city)] = _open(session, sink, replica, actor)
        return
    if rec.version != old_version:
        record(session, followup, actor, "recommendation_version", old_version, rec.version, reason)
    if rec.due_date != old_due:
        record(session, followup, actor, "due_date", old_due, rec.due_date, reason)
        followup.due_date = rec.due_date
    if rec.status.value == "withdrawn" and not followup.closed:
        record(session, followup, actor, "closed", False, True, reason)
        followup.closed, followup.closed_reason = True, f"recommendation withdrawn: {reason}"
    _touch(followup)


def _open(session: AsyncSession, sink: EventSink, replica: RecommendationReplica, actor: Actor) -> FollowUp:
    followup = FollowUp(recommendation_id=replica.id, city=replica.target_city, due_date=replica.due_date)
    session.add(followup)
    record(session, followup, actor, "opened", None, followup.implementation_status)
    if followup.due_date:  # so that `as_of` can replay the due date too
        record(session, followup, actor, "due_date", None, followup.due_date)
    emit(session, sink, FollowUpOpened(followup=to_state(followup, replica), actor=actor), followup)
    return followup
