"""The consumer's effect: one delivery per matching subscription, in the inbox transaction.

Every notifiable event type (`rules.NOTIFIABLE`, derived from the contract registry) is routed
to `create_deliveries`. The (subscription, event) unique key backs up the inbox: even an event
that somehow arrived twice cannot create a second delivery.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import repository, rules
from services.notifications.models import DeliveryStatus, Mode, Subscription
from shared.contracts.envelope import Event, Payload
from shared.platform.db import after_commit, to_json
from shared.platform.outbox import EventSink
from shared.platform.routing import Router


@dataclass
class DeliveryBatch:
    """One consumed batch: its transaction and the active subscriptions, loaded once for it."""

    session: AsyncSession
    sink: EventSink
    subscriptions: Sequence[Subscription]
    _filters: list[tuple[Subscription, dict[str, Any]]] | None = None
    _waking: bool = False

    def made_deliveries(self) -> None:
        """Wake the dispatcher once this batch's transaction has committed (its rows visible then).
        The sink's wake is the process's workers' (`Runtime.on_wake`: the dispatcher, main.py)."""
        if not self._waking:
            self._waking = True
            after_commit(self.session, self.sink.wake_workers)

    def filters(self) -> list[tuple[Subscription, dict[str, Any]]]:
        """Each subscription with its filters as `rules.matches` takes them, built once per batch."""
        if self._filters is None:
            self._filters = [
                (
                    sub,
                    {
                        "event_types": sub.event_types,
                        "cities": sub.cities,
                        "clusters": sub.clusters,
                        "seminars": [str(s) for s in sub.seminars],
                        "dimensions": [str(d) for d in sub.dimensions],
                        "overdue_only": sub.overdue_only,
                        "reader_role": sub.reader_role,
                        "reader_city": sub.reader_city,
                    },
                )
                for sub in self.subscriptions
            ]
        return self._filters

    @classmethod
    async def begin(cls, session: AsyncSession, sink: EventSink, _: Sequence[Event]) -> DeliveryBatch:
        return cls(session, sink, await repository.active_subscriptions(session))


async def create_deliveries(batch: DeliveryBatch, _: Payload, event: Event) -> None:
    for row in _deliveries(batch, event, datetime.now(UTC)):
        await repository.insert_delivery(batch.session, row)
        batch.made_deliveries()


async def create_deliveries_many(batch: DeliveryBatch, items: list[tuple[Payload, Event]]) -> None:
    """The fast path: the deliveries of a whole run of events in one `INSERT … SELECT FROM unnest`
    (repository.insert_deliveries; the one-event path above sends one statement per delivery).
    Same rows, same conflict rule, and each event's stored copy the same JSON text."""
    now = datetime.now(UTC)
    filters = batch.filters()
    new = repository.NewDeliveries()
    for _, event in items:
        summary = rules.summarize(event)
        matched = [no for no, (_, f) in enumerate(filters, 1) if rules.matches(summary, **f)]
        if matched:
            new.event_ids.append(event.id)
            new.event_types.append(event.type)
            new.bodies.append(stored_copy(event))
            new.pair_events += [len(new.event_ids)] * len(matched)
            new.pair_subscriptions += matched
    starts = [(sub, *first_state(sub, now)) for sub, _ in filters]
    await repository.insert_deliveries(batch.session, starts, new, now)
    if new.event_ids:
        batch.made_deliveries()


def stored_copy(event: Event) -> str:
    """The event as a delivery stores it: the text the engine's JSON serializer (shared.platform.db
    `to_json`) writes for the one-event path's `event.model_dump(mode="json")`,
    byte for byte (the equivalence test compares the stored texts). `data` is already plain JSON
    (decoded from the message), so only the envelope's attributes go through pydantic: dumping
    `data` too would walk and copy every value of it for nothing."""
    envelope = event.model_dump(mode="json", exclude={"data"})
    return to_json({name: event.data if name == "data" else envelope[name] for name in _EVENT_FIELDS})


_EVENT_FIELDS = tuple(Event.model_fields)  # in model_dump's order


def first_state(sub: Subscription, now: datetime) -> tuple[DeliveryStatus, datetime | None]:
    """A new delivery's status and first attempt: a digest subscription's waits for its digest."""
    return (DeliveryStatus.digest_pending, None) if sub.mode == Mode.digest else (DeliveryStatus.pending, now)


def _deliveries(batch: DeliveryBatch, event: Event, now: datetime) -> list[dict[str, Any]]:
    """One delivery row per subscription the event matches (the one-event path)."""
    summary = rules.summarize(event)
    rows = []
    body: dict[str, Any] | None = None
    for sub, filters in batch.filters():
        if not rules.matches(summary, **filters):
            continue
        body = body or event.model_dump(mode="json")
        status, next_attempt_at = first_state(sub, now)
        rows.append(
            {
                "id": uuid.uuid4(),
                "subscription_id": sub.id,
                "stakeholder_id": sub.stakeholder_id,
                "channel": sub.channel,
                "event_id": event.id,
                "event_type": event.type,
                "event": body,
                "attempts": 0,
                "created_at": now,
                "status": status,
                "next_attempt_at": next_attempt_at,
            }
        )
    return rows


router: Router[DeliveryBatch] = Router(DeliveryBatch.begin)
for notifiable in rules.NOTIFIABLE:
    router.add(notifiable, create_deliveries)
    router.on_many(notifiable)(create_deliveries_many)
