"""Sends due deliveries; retries live in the database, so a restart loses and repeats nothing.

Each pass locks up to `dispatch_batch` due rows (FOR UPDATE SKIP LOCKED: several instances
share the work without sending one row twice), sends them concurrently, then records each
attempt, the next try (exponential backoff with jitter, Retry-After honoured) or the end
(`delivered`, or `dead` after `max_attempts` or a 410), and the notification.* event, all in
the same transaction. A crash after sending but before the commit sends that row again: the
webhook-id stays the same, so receivers can drop the repeat (at-least-once, as the spec says).

A pass waits for its receivers `dispatch_wait_s` at most. A send still unanswered then (a receiver
that hangs) goes on by itself: its delivery's next attempt is set past the webhook timeout, so no
pass takes it meanwhile, and its answer is recorded in a transaction of its own when it comes.
Until then its subscription is left out of the passes and of the room the consumer is given: one
subscriber's hanging endpoint held every pass for the whole timeout, the other subscribers'
webhooks with it, then the consumer, then (through admission) everyone's writes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import channels, repository, rules
from services.notifications.config import Settings
from services.notifications.models import Channel, Delivery, DeliveryAttempt, DeliveryStatus, Subscription
from shared.contracts.envelope import Event, source_of
from shared.contracts.notifications import NotificationDelivered, NotificationFailed
from shared.platform import metrics
from shared.platform.db import SessionFactory, reading
from shared.platform.outbox import EventSink

log = logging.getLogger(__name__)
SOURCE = source_of("notifications")
RATE_WINDOW_S = 2.0  # the dispatcher's recent rate, which sizes the consumer's room
LINGER_MARGIN_S = 5.0  # past the webhook timeout: a send left to itself has answered or failed by then


class Dispatcher:
    def __init__(self, settings: Settings, sessions: SessionFactory, sink: EventSink) -> None:
        self.settings = settings
        self.sessions = sessions
        self.sink = sink
        self._wake = asyncio.Event()
        self._more = asyncio.Event()  # set while passes find full batches: the helper passes run
        self._sent: deque[tuple[float, int]] = deque()  # (when, attempts) of the recent passes
        # Sends that outlived their pass, by subscription: left out of the passes until they answer
        self._lingering: dict[uuid.UUID, set[asyncio.Task[channels.Outcome]]] = {}
        self._recording: set[asyncio.Task[None]] = set()  # their late answers being recorded

    def wake(self) -> None:
        self._wake.set()

    async def room(self) -> int:
        """How many more events the consumer may turn into deliveries now: as many first attempts
        as the dispatcher sends in `dispatch_late_s` at its recent rate, and none while the oldest
        has waited longer (`rules.intake_ahead`, `rules.intake_room`). A consumer that ran ahead
        filled the table faster than webhooks went out (440 waiting, the oldest 3.4 s, at 500
        issues/s), where nothing upstream could see it; held back, the events wait in Kafka and
        writes upstream are refused instead (shared/platform/pipeline.py)."""
        s = self.settings
        most = 2 * s.dispatch_passes * s.dispatch_batch
        ahead = rules.intake_ahead(self.sent_per_s(), s.dispatch_late_s, least=s.dispatch_batch, most=most)
        async with reading(self.sessions) as session:
            waiting, oldest_wait_s = await repository.first_attempts_waiting(session, ahead, skip=self._lingering.keys())
        return rules.intake_room(waiting, oldest_wait_s, ahead, s.dispatch_late_s)

    def sent_per_s(self) -> float:
        """Attempts finished per second over the last RATE_WINDOW_S."""
        now = time.monotonic()
        while self._sent and self._sent[0][0] < now - RATE_WINDOW_S:
            self._sent.popleft()
        return sum(n for _, n in self._sent) / RATE_WINDOW_S

    async def run(self, stop: asyncio.Event) -> None:
        # Several passes at once when there is more than a batch to send: a pass spends most of its
        # time waiting (on its receivers, then on its commit), and one at a time held webhooks to
        # about 100 a second while deliveries piled up behind it. Only then: at a trickle, four
        # passes woken by every commit raced for the same rows and added ~50 ms to each webhook.
        # Webhooks were never sent in order (a pass sends its rows at once).
        async with httpx.AsyncClient(follow_redirects=False) as http:
            helpers = (self._helper_passes(http, stop) for _ in range(self.settings.dispatch_passes - 1))
            try:
                await asyncio.gather(self._passes(http, stop), *helpers)
            finally:  # sends left to themselves stop too: their deliveries' next attempt comes after the timeout
                for sends in list(self._lingering.values()):
                    for send in sends:
                        send.cancel()
                await asyncio.gather(*self._recording, return_exceptions=True)

    async def _passes(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """The first pass loop: after every commit that made deliveries, and every interval."""
        while not stop.is_set():
            self._wake.clear()  # before the pass: a wake that comes during it is not lost
            if await self._pass(http) < self.settings.dispatch_batch:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.settings.dispatch_interval_s)
                except TimeoutError:
                    pass

    async def _helper_passes(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """The other pass loops: only while a pass found a full batch (more rows are due)."""
        while not stop.is_set():
            try:  # not a bare wait: the loop must see `stop` (a shutdown waited 10 s for it)
                await asyncio.wait_for(self._more.wait(), timeout=self.settings.dispatch_interval_s)
            except TimeoutError:
                continue
            await self._pass(http)

    async def _pass(self, http: httpx.AsyncClient) -> int:
        try:
            sent = await self.dispatch_due(http)
        except Exception:
            log.exception("dispatch pass failed; retrying")
            sent = 0
        if sent == self.settings.dispatch_batch:
            self._more.set()
        else:
            self._more.clear()
        return sent

    async def dispatch_due(self, http: httpx.AsyncClient) -> int:
        async with self.sessions() as session:
            now = datetime.now(UTC)
            due = await repository.lock_due_deliveries(session, now, self.settings.dispatch_batch, skip=self._lingering.keys())
            if not due:
                return 0
            sends = [asyncio.ensure_future(self._attempt(http, d)) for d in due]
            try:
                await asyncio.wait(sends, timeout=self.settings.dispatch_wait_s)
                left = [(d, send) for d, send in zip(due, sends, strict=True) if not send.done()]
                for d, send in zip(due, sends, strict=True):
                    if send.done():
                        self._record(session, d.delivery, d.subscription, send.result())
                for d, _ in left:  # no pass takes it before its send has answered or failed
                    d.delivery.next_attempt_at = now + timedelta(seconds=self.settings.webhook_timeout_s + LINGER_MARGIN_S)
                await session.commit()
            except BaseException:  # rolled back: every row is due again, so no send may go on alone
                for send in sends:
                    send.cancel()
                raise
            for d, send in left:
                self._linger(d, send)
            self._sent.append((time.monotonic(), len(due) - len(left)))
            return len(due)

    def _linger(self, due: repository.DueDelivery, send: asyncio.Task[channels.Outcome]) -> None:
        """Leave `send` to answer by itself; record its answer then, in a transaction of its own."""
        subscription_id, delivery_id = due.subscription.id, due.delivery.id
        self._lingering.setdefault(subscription_id, set()).add(send)
        log.info(
            "a send to subscription %s is unanswered after %.1f s: left to answer by itself",
            *(subscription_id, self.settings.dispatch_wait_s),
        )

        def answered(done: asyncio.Task[channels.Outcome]) -> None:
            sends = self._lingering.get(subscription_id, set())
            sends.discard(done)
            if not sends:
                self._lingering.pop(subscription_id, None)
            if not done.cancelled():
                recording = asyncio.ensure_future(self._record_late(delivery_id, done))
                self._recording.add(recording)
                recording.add_done_callback(self._recording.discard)

        send.add_done_callback(answered)

    async def _record_late(self, delivery_id: uuid.UUID, send: asyncio.Task[channels.Outcome]) -> None:
        try:
            outcome = send.result()
            async with self.sessions() as session:
                due = await repository.lock_delivery(session, delivery_id)
                if due is None or due.delivery.status != DeliveryStatus.pending:
                    return  # retried by hand or ended meanwhile: this answer changes nothing
                self._record(session, due.delivery, due.subscription, outcome)
                await session.commit()
            self._sent.append((time.monotonic(), 1))
        except Exception:  # its next attempt comes after the timeout all the same
            log.exception("recording a late webhook answer for delivery %s failed", delivery_id)

    async def _attempt(self, http: httpx.AsyncClient, due: repository.DueDelivery) -> channels.Outcome:
        sub, delivery = due.subscription, due.delivery
        if not sub.active:
            return channels.Outcome(ok=False, duration_ms=0, error=f"subscription disabled: {sub.disabled_reason}", gone=True)
        if delivery.channel == Channel.webhook:
            return await channels.send_webhook(http, self.settings, sub, delivery)
        return await channels.send_email(self.settings, due.stakeholder, delivery, sub)

    def _record(self, session: AsyncSession, delivery: Delivery, sub: Subscription, outcome: channels.Outcome) -> None:
        now = datetime.now(UTC)
        delivery.attempts += 1
        session.add(
            DeliveryAttempt(
                delivery_id=delivery.id,
                at=now,
                ok=outcome.ok,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        metrics.DELIVERY_ATTEMPTS.labels(delivery.channel.value, "ok" if outcome.ok else "failed").inc()
        if outcome.ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at, delivery.last_error = (
                DeliveryStatus.delivered,
                now,
                None,
                None,
            )
            self._emit(session, delivery, NotificationDelivered)
            return
        delivery.last_error = outcome.error
        if outcome.gone and sub.active:
            sub.active, sub.disabled_reason = False, f"endpoint answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC"
        if outcome.gone or delivery.attempts >= self.settings.max_attempts:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.dead, None
            self._emit(session, delivery, NotificationFailed, error=outcome.error or "failed")
            return
        delay = rules.retry_delay(delivery.attempts, self.settings.retry_base_s, self.settings.retry_cap_s, outcome.retry_after_s)
        delivery.next_attempt_at = now + timedelta(seconds=delay)

    def _emit(
        self, session: AsyncSession, delivery: Delivery, cls: type[NotificationDelivered | NotificationFailed], **extra: str
    ) -> None:
        payload = cls(
            delivery_id=delivery.id,
            subscription_id=delivery.subscription_id,
            stakeholder_id=delivery.stakeholder_id,
            channel=delivery.channel.value,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            attempts=delivery.attempts,
            **extra,
        )
        self.sink.publish(session, Event.of(payload, source=SOURCE, subject=str(delivery.id)))
