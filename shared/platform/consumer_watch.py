"""What the consumer's watchdog and readiness look at (shared/platform/consumer.py's docstring says
why the Kafka client is judged by what it achieves): its progress, its lag, measured apart from
its loop so that a stuck handler cannot freeze the gauge that reveals it, and the stall rule."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.platform import metrics
from shared.platform.kafka import broker_reachable

LAG_PROBE_S = 1.0
LAG_PROBE_TIMEOUT_S = 5.0  # the probe's own requests must not hang for aiokafka's 40 s
STALL_AFTER_S = 20.0  # behind (or blind) for this long with the broker up: a new client


class ConsumerStalled(Exception):
    """The Kafka client makes no progress although it should: the watchdog replaces it."""


@dataclass
class ConsumerProgress:
    """What readiness and metrics look at: real progress, not the client's private state."""

    assigned: set[TopicPartition] = field(default_factory=set)
    last_poll: float = 0.0
    last_record: float = 0.0  # when the last non-empty batch arrived (or the client started)
    applied: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    lag: int | None = None  # the last measured total lag, None while it cannot be measured
    lag_measured_at: float = 0.0
    lag_unknown_since: float | None = None
    lag_unknown_reason: str = ""
    client_restarts: int = 0

    def stalled(self, now: float, stall_after_s: float) -> str | None:
        """Why the client looks stuck, or None: records wait (or the lag cannot be seen) and none
        has come for `stall_after_s`. The watchdog also asks whether the broker is reachable."""
        if now - self.last_record < stall_after_s:
            return None
        behind = self.lag is not None and self.lag > 0 and now - self.lag_measured_at < 3 * LAG_PROBE_S + LAG_PROBE_TIMEOUT_S
        blind = self.lag_unknown_since is not None and now - self.lag_unknown_since >= stall_after_s
        if not (behind or blind):
            return None
        why = f"{self.lag} message(s) behind" if behind else f"lag unknown ({self.lag_unknown_reason})"
        return f"{why} and no record for {now - self.last_record:.0f}s while the broker is reachable"


async def measure_lag(
    service: str, bootstrap: str, consumer: AIOKafkaConsumer, progress: ConsumerProgress, done: dict[TopicPartition, int]
) -> None:
    """Lag = the partition's end (asked of the broker: the client's cached highwater stops moving
    while a batch is being processed) minus the next offset still to *process* (`done`, filled
    from the committed offsets for partitions not processed yet). When the broker cannot answer,
    the lag is unknown: NaN and lag_unknown=1, never 0."""
    assigned = list(progress.assigned or consumer.assignment())
    try:
        async with asyncio.timeout(LAG_PROBE_TIMEOUT_S):
            ends = await consumer.end_offsets(assigned) if assigned else {}
            for tp in assigned:
                if tp not in done:
                    done[tp] = await consumer.committed(tp) or 0
    except Exception as exc:  # timeout, broker away, client closed: all mean "cannot measure"
        _lag_unknown(service, progress, assigned, f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__)
        return
    if not assigned and not await broker_reachable(bootstrap):
        _lag_unknown(service, progress, assigned, "Kafka unreachable and no partitions assigned")
        return
    lags = {tp: max(ends[tp] - done[tp], 0) for tp in assigned}
    for tp, lag in lags.items():
        metrics.CONSUMER_LAG.labels(service, tp.topic, str(tp.partition)).set(lag)
    metrics.CONSUMER_LAG_UNKNOWN.labels(service).set(0)
    progress.lag, progress.lag_measured_at, progress.lag_unknown_since, progress.lag_unknown_reason = (
        sum(lags.values()),
        time.monotonic(),
        None,
        "",
    )


def _lag_unknown(service: str, progress: ConsumerProgress, assigned: list[TopicPartition], reason: str) -> None:
    for tp in assigned:
        metrics.CONSUMER_LAG.labels(service, tp.topic, str(tp.partition)).set(math.nan)
    metrics.CONSUMER_LAG_UNKNOWN.labels(service).set(1)
    progress.lag, progress.lag_unknown_reason = None, reason
    progress.lag_unknown_since = progress.lag_unknown_since or time.monotonic()
