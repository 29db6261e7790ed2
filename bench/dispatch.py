"""3d. The dispatcher alone: due webhook deliveries sent, each attempt recorded with its
`notification.delivered` event, beside the same signed POSTs sent with nothing read or recorded.

Row 4 at 500 issues a second is bounded by the webhooks this machine sends; this row says how many
the dispatcher sends with the machine to itself, and what its bookkeeping costs over the sending.
The receiver runs in the benchmark's process, in both runs: the CPU figures include it."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import select

from bench.common import Row
from bench.services import n, notifications_runtime
from services.notifications import channels
from services.notifications.config import Settings as NotificationsSettings
from services.notifications.dispatcher import Dispatcher
from services.notifications.models import Channel, Delivery, DeliveryStatus, Stakeholder, Subscription
from shared.platform.runtime import Runtime
from tests.factories import issued
from tests.receivers import Receiver, webhook_receiver

INSERT_CHUNK = 1000


async def bench_dispatch(kafka: str, pg: str) -> tuple[list[Row], dict[str, Any]]:
    prefix, count = f"bd{uuid.uuid4().hex[:6]}", n(4000)
    settings, runtime = await notifications_runtime(kafka, pg, prefix, f"{prefix}_notifications", webhook_allow_loopback=True)
    try:
        async with webhook_receiver() as receiver:
            deliveries = await _due_deliveries(runtime, receiver.url, count)
            ours = await _dispatch_all(Dispatcher(settings, runtime.sessions, runtime), runtime, receiver, count)
            receiver.requests.clear()
            receiver.arrived_at.clear()
            bare = await _post_all(settings, deliveries, receiver)
    finally:
        await runtime.stop()
    row = Row(
        f"3d. dispatcher, {count} due webhooks sent and recorded",
        f"{ours[0]:,.0f} webhooks/s ({ours[1]:,.0f} per CPU second)",
        f"{bare[0]:,.0f} webhooks/s ({bare[1]:,.0f} per CPU second; the same signed POSTs, nothing read or recorded)",
        f"{ours[0] / bare[0]:.2f}",
        "—",
        None,
    )
    return [row], {"dispatch_webhooks_per_s": round(ours[0]), "dispatch_bare_webhooks_per_s": round(bare[0])}


async def _due_deliveries(runtime: Runtime, url: str, count: int) -> list[tuple[Subscription, Delivery]]:
    """`count` pending webhook deliveries, due now, for one subscription to `url`."""
    async with runtime.sessions() as session:
        person = Stakeholder(name="Bench", email="bench@clusnet.example")
        sub = Subscription(stakeholder_id=person.id, channel=Channel.webhook, url=url, secret="whsec_" + "A" * 32)
        session.add_all([person, sub])
        await session.commit()
        made = [_due_delivery(sub) for _ in range(count)]
        for start in range(0, count, INSERT_CHUNK):
            session.add_all(made[start : start + INSERT_CHUNK])
            await session.commit()
        return [(sub, delivery) for delivery in made]


def _due_delivery(sub: Subscription) -> Delivery:
    event = issued()
    return Delivery(
        subscription_id=sub.id,
        stakeholder_id=sub.stakeholder_id,
        channel=Channel.webhook,
        event_id=event.id,
        event_type=event.type,
        event=event.model_dump(mode="json"),
    )


async def _dispatch_all(dispatcher: Dispatcher, runtime: Runtime, receiver: Receiver, count: int) -> tuple[float, float]:
    """Webhooks per second and per CPU second until every delivery is recorded as delivered."""
    stop = asyncio.Event()
    started, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(dispatcher.run(stop))
    while await _delivered(runtime) < count:
        await asyncio.sleep(0.05)
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    stop.set()
    await task
    assert len(receiver.requests) == count, f"{len(receiver.requests)} webhooks for {count} deliveries"
    return count / seconds, count / cpu_s


async def _delivered(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        query = select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.delivered)
        return int((await session.exec(query)).one())


async def _post_all(
    settings: NotificationsSettings, deliveries: list[tuple[Subscription, Delivery]], receiver: Receiver
) -> tuple[float, float]:
    """The same deliveries' signed POSTs, as many at once as the dispatcher's passes send."""
    at_once = settings.dispatch_batch * settings.dispatch_passes
    started, cpu = time.perf_counter(), time.process_time()
    async with httpx.AsyncClient(follow_redirects=False) as http:
        for start in range(0, len(deliveries), at_once):
            outcomes = await asyncio.gather(
                *(channels.send_webhook(http, settings, sub, d) for sub, d in deliveries[start : start + at_once])
            )
            assert all(o.ok for o in outcomes)
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    assert len(receiver.requests) == len(deliveries)
    return len(deliveries) / seconds, len(deliveries) / cpu_s
