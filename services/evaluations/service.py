"""Use cases of the evaluations service: what city officials and the lead partner do, and what
the recommendation events do to the follow-ups. Each is one transaction, committed once."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

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
    FollowUpPublic,
    FollowUpUpdate,
    LinkAnswer,
    LinkEvidence,
    PeerFollowUp,
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
from shared.contracts.recommendations import ClusterLinkState, RecommendationState
from shared.platform.auth import Principal, Role
from shared.platform.errors import Conflict, Invalid, NotFound, PreconditionFailed, PreconditionRequired
from shared.platform.ids import uuid4s
from shared.platform.outbox import EventSink
from shared.platform.routing import applying, emitted_traceparent

SOURCE = source_of("evaluations")
CITY_FIELDS = ("responsible_body", "owner", "planned_completion", "notes")


def etag(followup: FollowUp) -> str:
    return f'"{followup.id}.{followup.version}"'


def is_overdue(f: FollowUp, today: date) -> bool:
    return workflow.is_overdue(f.due_date, f.implementation_status, f.closed, today)


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
    session: AsyncSession,
    f: FollowUp,
    actor: Actor,
    field: str,
    old: object,
    new: object,
    comment: str | None = None,
    via: str | None = None,
) -> None:
    session.add(
        FollowUpChange(
            followup_id=f.id,
            actor_id=actor.id,
            actor_role=actor.role,
            field=field,
            comment=comment,
            via=via,
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
    _touch(followup)
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
    """Public evidence is for every reader; private evidence for the city's officials (the
    follow-up's own, checked by readable_row), the lead partner and admins."""
    return public or principal.role in (Role.city_official, Role.lead_partner, Role.admin)


async def evidence_of(session: AsyncSession, followup_id: uuid.UUID, principal: Principal) -> list[EvidencePublic]:
    """The city's evidence (an uploaded file with where to download it), then the inter-cluster links
    that answer the recommendation; private items only for those who may see them."""
    followup, replica = await readable_row(session, followup_id, principal)
    own = [e for e in await repository.evidence(session, followup.id) if may_see(e.public, principal)]
    with_files = await repository.evidence_ids_with_files(session, [e.id for e in own])
    items = [
        EvidencePublic.model_validate(e, from_attributes=True).model_copy(
            update={"download_path": f"/follow-ups/{followup.id}/evidence/{e.id}/file" if e.id in with_files else None}
        )
        for e in own
    ]
    links = (await repository.link_evidence(session, [replica.id]))[replica.id]
    return items + [EvidencePublic.of_link(link) for link in links if may_see(link.public, principal)]


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
    _touch(followup)
    emit(session, sink, FollowUpVerified(followup=to_state(followup, replica), actor=principal.actor(), change=change), followup)
    await session.commit()
    return followup, replica


def _touch(followup: FollowUp) -> None:
    followup.version += 1
    followup.updated_at = datetime.now(UTC)


# --- what recommendation events do (called by the consumer, inside its inbox transaction) ----
@dataclass
class ReplicaBatch:
    """What the events of one consumed batch share: the transaction, where emitted events go, and
    the replicas and follow-ups they touch, loaded (and locked) for the whole batch at once.

    No flush per event: inserts go out together at the batch's commit, so lookups go through these
    maps (which also hold what this batch added)."""

    session: AsyncSession
    sink: EventSink
    replicas: dict[uuid.UUID, RecommendationReplica | None] = field(default_factory=dict)
    followups: dict[tuple[uuid.UUID, str], FollowUp] = field(default_factory=dict)
    links: dict[uuid.UUID, LinkEvidence | None] = field(default_factory=dict)

    @classmethod
    async def begin(cls, session: AsyncSession, sink: EventSink, events: Sequence[Event]) -> ReplicaBatch:
        ids = [uuid.UUID(e.data["recommendation"]["id"]) for e in events if "recommendation" in e.data]
        replicas = await repository.replicas(session, ids)
        # A follow-up exists only with its replica (a foreign key): for recommendations not yet
        # replicated, the common case of a batch of new ones, there is nothing to read.
        followups = await repository.followups_of_many(session, list(replicas)) if replicas else []
        return cls(session, sink, {rid: replicas.get(rid) for rid in ids}, {(f.recommendation_id, f.city): f for f in followups})

    async def replica(self, rec_id: uuid.UUID) -> RecommendationReplica | None:
        if rec_id not in self.replicas:
            self.replicas[rec_id] = await self.session.get(RecommendationReplica, rec_id, with_for_update=True)
        return self.replicas[rec_id]

    async def link(self, link_id: uuid.UUID) -> LinkEvidence | None:
        if link_id not in self.links:
            self.links[link_id] = await self.session.get(LinkEvidence, link_id, with_for_update=True)
        return self.links[link_id]

    async def followup(self, rec_id: uuid.UUID, city: str) -> FollowUp | None:
        key = (rec_id, city)
        if key not in self.followups and (found := await repository.followup_for(self.session, rec_id, city)):
            self.followups[key] = found
        return self.followups.get(key)


async def apply_recommendation(batch: ReplicaBatch, rec: RecommendationState, actor: Actor, reason: str | None = None) -> None:
    session, sink = batch.session, batch.sink
    replica = await batch.replica(rec.id)
    if replica is not None and replica.version > rec.version:
        return  # an older version arriving late changes nothing
    followup = None
    if replica is None:
        replica = batch.replicas[rec.id] = RecommendationReplica(
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
            tags=rec.tags,
            related_ids=[str(r) for r in rec.related_ids],
            updated_at=rec.updated_at,
        )
        session.add(replica)
        old_version, old_due = rec.version, rec.due_date
    else:
        old_version, old_due = replica.version, replica.due_date
        followup = await batch.followup(rec.id, rec.target_city)
    for name in ("version", "title", "text", "dimension", "due_date", "target_city", "tags", "updated_at"):
        setattr(replica, name, getattr(rec, name))
    replica.related_ids = [str(r) for r in rec.related_ids]
    replica.status = rec.status.value
    if followup is None:
        if rec.status.value != "withdrawn":
            batch.followups[(rec.id, rec.target_city)] = _open(session, sink, replica, actor)
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


async def apply_new_recommendations(batch: ReplicaBatch, items: list[tuple[RecommendationState, Actor, Event]]) -> None:
    """The fast path of `apply_recommendation` for the common case, recommendations this service
    has never seen: replicas, follow-ups and their history written with one Core insert each for
    the whole run, no ORM object per event. It writes exactly what `apply_recommendation` writes
    (tests/integration/test_fast_paths.py compares both). Any other case (a replica already there,
    the same recommendation twice in the run, a withdrawn one) takes `apply_recommendation`."""
    times = Counter(rec.id for rec, _, _ in items)
    # In `batch.replicas` as None: prefetched by `begin` and not in the database.
    unseen = {rec.id for rec, _, _ in items if rec.id in batch.replicas and batch.replicas[rec.id] is None}
    is_new = [rec.id in unseen and times[rec.id] == 1 and rec.status.value != "withdrawn" for rec, _, _ in items]
    new = [item for item, fast in zip(items, is_new, strict=True) if fast]
    others = [item for item, fast in zip(items, is_new, strict=True) if not fast]
    await batch.session.flush()  # what the batch added before this run is written first, as it would be
    now = datetime.now(UTC)  # one clock reading for the run: the rows all commit together anyway
    ids = uuid4s(2 * len(new))  # each follow-up's id and its event's, from one system call
    replicas, followups, history, opened = [], [], [], []
    for (rec, actor, event), followup_id, event_id in zip(new, ids[::2], ids[1::2], strict=True):
        followup = _followup_row(followup_id, rec, now)
        replicas.append(_replica_row(rec))
        followups.append(followup)
        history.append(_history_row(followup_id, actor, "opened", followup["implementation_status"], now))
        if rec.due_date:  # so that `as_of` can replay the due date too
            history.append(_history_row(followup_id, actor, "due_date", rec.due_date, now))
        # Validated, though the values are of the right types already: pydantic's validation (in
        # Rust) takes half the time of its `model_construct` (in Python), 6 µs against 11 here.
        fields: dict[str, Any] = {k: v for k, v in followup.items() if k in STATE_FIELDS}
        fields |= {
            "recommendation_version": rec.version,
            "recommendation_title": rec.title,
            "seminar_id": rec.seminar.id,
            "dimension": rec.dimension,
        }
        payload = FollowUpOpened.model_validate({"followup": fields, "actor": actor})
        opened.append(
            Event(  # what `Event.of` makes, with the ids and clock drawn for the whole run
                id=event_id,
                type=OPENED,
                source=SOURCE,
                subject=str(followup_id),
                time=now,
                data=payload.model_dump(mode="json"),
                traceparent=emitted_traceparent(event),  # the emitted event continues the consumed event's trace
            )
        )
        del batch.replicas[rec.id]  # now in the database: a later event of this batch reads it from there
    await repository.insert_many(batch.session, RecommendationReplica, replicas)
    await repository.insert_many(batch.session, FollowUp, followups)
    await repository.insert_many(batch.session, FollowUpChange, history)
    await batch.sink.publish_many(batch.session, opened)
    for rec, actor, event in others:
        with applying(event):
            await apply_recommendation(batch, rec, actor)


STATE_FIELDS = frozenset(FollowUpState.model_fields)  # once: the class attribute is computed on each access
OPENED = FollowUpOpened.versioned_type()


def _replica_row(rec: RecommendationState) -> dict[str, object]:
    return {
        "id": rec.id,
        "version": rec.version,
        "status": rec.status.value,
        "seminar_id": rec.seminar.id,
        "seminar_host_city": rec.seminar.host_city,
        "seminar_theme": rec.seminar.theme,
        "target_city": rec.target_city,
        "dimension": rec.dimension,
        "title": rec.title,
        "text": rec.text,
        "due_date": rec.due_date,
        "tags": rec.tags,
        "related_ids": [str(r) for r in rec.related_ids],
        "updated_at": rec.updated_at,
    }


def _followup_row(followup_id: uuid.UUID, rec: RecommendationState, now: datetime) -> dict[str, object]:
    """A new follow-up with FollowUp's defaults (the model's, so both paths agree)."""
    return {
        **NEW_FOLLOWUP_DEFAULTS,
        "id": followup_id,
        "recommendation_id": rec.id,
        "city": rec.target_city,
        "due_date": rec.due_date,
        "created_at": now,
        "updated_at": now,
    }


def _history_row(followup_id: uuid.UUID, actor: Actor, name: str, new: object, now: datetime) -> dict[str, object]:
    return {
        "followup_id": followup_id,
        "at": now,
        "actor_id": actor.id,
        "actor_role": actor.role,
        "field": name,
        "old": None,
        "new": None if new is None else str(getattr(new, "value", new)),
        "comment": None,
        "via": None,
    }


NEW_FOLLOWUP_DEFAULTS = {
    name: info.default
    for name, info in FollowUp.model_fields.items()
    if name not in ("id", "recommendation_id", "city", "due_date", "created_at", "updated_at")
}


def _open(session: AsyncSession, sink: EventSink, replica: RecommendationReplica, actor: Actor) -> FollowUp:
    followup = FollowUp(recommendation_id=replica.id, city=replica.target_city, due_date=replica.due_date)
    session.add(followup)
    record(session, followup, actor, "opened", None, followup.implementation_status)
    if followup.due_date:  # so that `as_of` can replay the due date too
        record(session, followup, actor, "due_date", None, followup.due_date)
    emit(session, sink, FollowUpOpened(followup=to_state(followup, replica), actor=actor), followup)
    return followup


# --- what cluster_link events do: a link answering a recommendation is evidence on its follow-up ---
def link_title(link: ClusterLinkState) -> str:
    clusters = " – ".join(f"{c.name} ({c.city.title()})" for c in link.clusters)
    return f"Inter-cluster link, {link.kind.value.replace('_', ' ')}: {clusters}. {link.description}"[:300]


async def apply_cluster_link(batch: ReplicaBatch, link: ClusterLinkState) -> None:
    """Keep the link's evidence current. The version guards order: a replayed or late event (a lower
    or equal version) changes nothing; a cancelled link stays as a tombstone, shown nowhere."""
    row = await batch.link(link.id)
    if row is not None and row.version >= link.version:
        return
    if row is None:
        row = batch.links[link.id] = LinkEvidence(
            link_id=link.id, version=link.version, status=link.status, kind=link.kind, title="", public=link.public
        )
        batch.session.add(row)
        # A link's recommendations are fixed when it is proposed, so they are recorded once.
        for rec_id in dict.fromkeys(link.recommendation_ids):
            batch.session.add(LinkAnswer(link_id=link.id, recommendation_id=rec_id))
    row.version, row.status, row.kind, row.public = link.version, link.status, link.kind, link.public
    row.title = link_title(link)
    row.updated_at = datetime.now(UTC)


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
    for other, other_replica in await repository.other_cities_rows(session, followup.city):
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
