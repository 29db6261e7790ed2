"""What the events this service consumes do to its data, inside the consumer's inbox transaction
(handlers.py routes them here): a recommendation's replica and its follow-up opened, revised or
closed; a cluster link's evidence kept current. One `ReplicaBatch` per consumed batch."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.evaluations import repository
from services.evaluations.models import FollowUp, FollowUpChange, LinkAnswer, LinkEvidence, RecommendationReplica
from services.evaluations.service import SOURCE, emit, record, to_state, touch
from shared.contracts.common import Actor
from shared.contracts.envelope import Event
from shared.contracts.followups import FollowUpOpened, FollowUpState
from shared.contracts.recommendations import ClusterLinkState, RecommendationState
from shared.platform.ids import uuid4s
from shared.platform.outbox import EventSink
from shared.platform.routing import applying, emitted_traceparent


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
        replica = batch.replicas[rec.id] = RecommendationReplica(**_replica_row(rec))
        session.add(replica)
        old_version, old_due = rec.version, rec.due_date
    else:
        old_version, old_due = replica.version, replica.due_date
        followup = await batch.followup(rec.id, rec.target_city)
        for name, value in _replica_row(rec).items():
            setattr(replica, name, value)
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
    touch(followup)


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


def _replica_row(rec: RecommendationState) -> dict[str, Any]:
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
