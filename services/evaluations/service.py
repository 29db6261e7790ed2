"""Use cases of the evaluations service: what city officials and the lead partner do to the
follow-ups, each one transaction, committed once. What consumed events do is in replicas.py."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.evaluations import evidence_files, repository, workflow
from services.evaluations import peers as peer_rules
from services.evaluations.models import (
    Evidence,
    EvidenceCreate,
    EvidenceFile,
    EvidencePublic,
    FollowUp,
    FollowUpChange,
    FollowUpEvidence,
    FollowUpPublic,
    FollowUpUpdate,
    PeerFollowUp,
    RecommendationReplica,
    VerificationCreate,
)
from shared.contracts.common import Actor
from shared.contracts.envelope import Event, Payload, source_of
from shared.contracts.followups import (
    Change,
    FollowUpEvidenceAdded,
    FollowUpResponseRecorded,
    FollowUpState,
    FollowUpStatusChanged,
    FollowUpVerified,
    Verification,
)
from shared.platform.auth import Principal, Role
from shared.platform.errors import Conflict, Invalid, NotFound, PreconditionFailed, PreconditionRequired
from shared.platform.outbox import EventSink

SOURCE = source_of("evaluations")
CITY_FIELDS = ("responsible_body", "owner", "planned_completion", "notes")


def etag(followup: FollowUp) -> str:
    return etag_of(followup.id, followup.version)


def etag_of(followup_id: uuid.UUID, version: int) -> str:
    """A follow-up's ETag: its id and version (If-Match compares it; a spreadsheet row carries both)."""
    return f'"{followup_id}.{version}"'


def is_overdue(f: FollowUp, today: date) -> bool:
    return workflow.is_overdue(f.due_date, f.implementation_status, f.closed, today)


@dataclass(frozen=True)
class Calendar:
    """The day an answer is given on, and how many days ahead a deadline is due soon (a setting)."""

    today: date
    due_soon_days: int


def to_public(f: FollowUp, r: RecommendationReplica, calendar: Calendar) -> FollowUpPublic:
    return FollowUpPublic(
        **f.model_dump(exclude={"recommendation_id"}),
        recommendation_id=r.id,
        recommendation_version=r.version,
        recommendation_title=r.title,
        recommendation_text=r.text,
        seminar_id=r.seminar_id,
        dimension=r.dimension,
        overdue=is_overdue(f, calendar.today),
        due_soon=workflow.is_due_soon(f.due_date, f.implementation_status, f.closed, calendar.today, calendar.due_soon_days),
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
    session: AsyncSession,
    f: FollowUp,
    actor: Actor,
    field: str,
    old: object,
    new: object,
    comment: str | None = None,
    via: str | None = None,
    evidence_id: uuid.UUID | None = None,
) -> None:
    session.add(
        FollowUpChange(
            followup_id=f.id,
            actor_id=actor.id,
            actor_role=actor.role,
            field=field,
            comment=comment,
            via=via,
            evidence_id=evidence_id,
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
    via: str | None = None,
) -> repository.Row:
    """A city's form save (PATCH), also used for each row of a spreadsheet upload (`via` marks its history)."""
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
            record(session, followup, actor, name, old, new, comment, via)
            state_events.append((event_cls, Change(field=name, old=old, new=new, comment=comment)))
            setattr(followup, name, new)
    if any(change.field == "response" for _, change in state_events):
        followup.response_justification = comment if response in workflow.NEEDS_JUSTIFICATION else None
    for name in CITY_FIELDS:
        if name in changes and changes[name] != getattr(followup, name):
            record(session, followup, actor, name, getattr(followup, name), changes[name], comment, via)
            setattr(followup, name, changes[name])
    if state_events and followup.verification != Verification.unverified:
        record(
            session,
            followup,
            actor,
            "verification",
            followup.verification,
            Verification.unverified,
            "reset by the city's change",
            via,
        )
        followup.verification, followup.verification_comment = Verification.unverified, None
    touch(followup)
    for event_cls, change in state_events:
        emit(session, sink, event_cls(followup=to_state(followup, replica), actor=actor, change=change), followup)
    await session.commit()
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


def may_see(public: bool, principal: Principal) -> bool:
    """Public evidence is for every reader; private evidence for those `Principal.sees_private_evidence`
    (a city official: of the follow-ups readable_row lets them read)."""
    return public or principal.sees_private_evidence()


async def history_of(session: AsyncSession, followup_id: uuid.UUID, principal: Principal) -> list[FollowUpChange]:
    """The follow-up's history; for a reader who may not see private evidence, the entries that
    added evidence only for the public items (they carry its title; one whose item is unknown is
    left out too)."""
    followup, _ = await readable_row(session, followup_id, principal)
    changes = list(await repository.history(session, followup.id))
    if principal.sees_private_evidence():
        return changes
    public = {e.id for e in await repository.evidence(session, followup.id) if e.public}
    return [c for c in changes if c.field != "evidence" or c.evidence_id in public]


async def evidence_of(session: AsyncSession, followup_id: uuid.UUID, principal: Principal) -> list[EvidencePublic]:
    """The city's evidence (an uploaded file with where to download it), then the inter-cluster links
    that answer the recommendation; private items only for those who may see them."""
    row = await readable_row(session, followup_id, principal)
    return (await evidence_by_followup(session, [row], principal))[row[0].id]


async def evidence_by_followup(
    session: AsyncSession, rows: Sequence[repository.Row], principal: Principal
) -> dict[uuid.UUID, list[EvidencePublic]]:
    """`evidence_of` for many follow-ups the principal may read, in three reads whatever their number
    (the public page showed a seminar's evidence with one request per follow-up)."""
    own = await repository.evidence_of_followups(session, [followup.id for followup, _ in rows])
    visible = {followup_id: [e for e in items if may_see(e.public, principal)] for followup_id, items in own.items()}
    with_files = await repository.evidence_ids_with_files(session, [e.id for items in visible.values() for e in items])
    links = await repository.link_evidence(session, [replica.id for _, replica in rows])
    return {
        followup.id: [_evidence_public(followup.id, e, with_files) for e in visible[followup.id]]
        + [EvidencePublic.of_link(link) for link in links[replica.id] if may_see(link.public, principal)]
        for followup, replica in rows
    }


async def evidence_of_seminar(
    session: AsyncSession, filters: repository.FollowUpFilter, today: date, principal: Principal
) -> list[FollowUpEvidence]:
    """The evidence of every follow-up of one seminar that the list filters admit (a city official's
    are their city's): one request for a page that shows a seminar's responses."""
    if filters.seminar is None:
        raise Invalid("say which seminar's evidence (?seminar=): all of it at once would be every follow-up's")
    rows = await repository.list_followups(session, filters, today)
    found = await evidence_by_followup(session, rows, principal)
    return [FollowUpEvidence(followup_id=followup.id, evidence=found[followup.id]) for followup, _ in rows]


def _evidence_public(followup_id: uuid.UUID, evidence: Evidence, with_files: set[uuid.UUID]) -> EvidencePublic:
    download = f"/follow-ups/{followup_id}/evidence/{evidence.id}/file" if evidence.id in with_files else None
    return EvidencePublic.model_validate(evidence, from_attributes=True).model_copy(update={"download_path": download})


async def evidence_file(
    session: AsyncSession, followup_id: uuid.UUID, evidence_id: uuid.UUID, principal: Principal
) -> tuple[Evidence, EvidenceFile]:
    await readable_row(session, followup_id, principal)
    found = await repository.evidence_file(session, followup_id, evidence_id)
    if found is None or not may_see(found[0].public, principal):  # private evidence does not exist for an integration
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
    record(session, followup, principal.actor(), "evidence", None, data.title, evidence_id=item.id)
    touch(followup)
    payload = FollowUpEvidenceAdded(
        followup=to_state(followup, replica),
        actor=principal.actor(),
        evidence_id=item.id,
        title=item.title,
        url=item.url,
        public=item.public,
    )
    emit(session, sink, payload, followup)
    await session.commit()
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
    touch(followup)
    emit(session, sink, FollowUpVerified(followup=to_state(followup, replica), actor=principal.actor(), change=change), followup)
    await session.commit()
    return followup, replica


def touch(followup: FollowUp) -> None:
    """A change to the follow-up: a new version (its ETag) and time."""
    followup.version += 1
    followup.updated_at = datetime.now(UTC)


# --- evidence and peers, as read -----------------------------------------------------------------
def _advice(followup: FollowUp, replica: RecommendationReplica) -> peer_rules.Advice:
    return peer_rules.Advice(
        id=str(replica.id),
        city=followup.city,
        dimension=str(replica.dimension),
        tags=tuple(replica.tags or ()),
        related_ids=tuple(replica.related_ids or ()),
    )


async def peers(session: AsyncSession, followup_id: uuid.UUID, principal: Principal) -> list[PeerFollowUp]:
    """ "The same advice elsewhere": other cities' follow-ups of related recommendations, with their
    response, status and public evidence only (whoever asks: it is another city's record)."""
    followup, replica = await readable_row(session, followup_id, principal)
    subject = _advice(followup, replica)
    found = []
    for other, other_replica in await repository.peer_candidates(session, followup, replica):
        if (how := peer_rules.match(subject, _advice(other, other_replica))) is not None:
            found.append((other, other_replica, how))
    evidence = await repository.public_evidence_of(session, [f.id for f, _, _ in found])
    links = await repository.link_evidence(session, [r.id for _, r, _ in found])
    return [
        PeerFollowUp(
            followup_id=f.id,
            city=f.city,
            recommendation_id=r.id,
            recommendation_title=r.title,
            seminar_id=r.seminar_id,
            dimension=r.dimension,
            related=how.related,
            shared_tags=list(how.shared_tags),
            response=f.response,
            implementation_status=f.implementation_status,
            verification=f.verification,
            closed=f.closed,
            evidence=[EvidencePublic.model_validate(e, from_attributes=True) for e in evidence[f.id]]
            + [EvidencePublic.of_link(link) for link in links[r.id] if link.public],
        )
        for f, r, how in found
    ]
