"""How far behind this deployment's consumers run on a service's own stream: the admission
signal that sees past the API (`http.AdmissionControl`).

A service's API can accept writes faster than the consumers downstream (another service's
follow-ups, the notifications and their webhooks) can apply them. Then the queue does not form in
the API, where its own signals (requests in progress, its event loop's lag) would see it, but in
Kafka: every accepted write waits longer for its effects. Refusing writes while the pipeline is
overloaded keeps the accepted ones fast and tells clients when to come back.

Overload is far behind AND late, or far behind AND slow to drain (`Lateness.overloaded`). A
delay: 1,000 events are 0.1 s for a consumer applying 10,000 a second and seconds for one applying
webhooks. Kafka keeps no time per offset that is cheap to ask for, so the probe remembers when each
partition's end offset moved (`EndHistory`): the oldest event a group has not applied was appended
by the first moment the end passed the group's committed offset. A drain time: the events waiting
divided by the rate the group has been applying them at (`PartitionProgress.rate`), which says a
queue is too long as soon as it forms, where the oldest event's age says so only once it has aged
(at 500 issues a second that was 300 to 400 accepted writes, seconds of webhooks, later). And a
count (MIN_BACKLOG): a consumer with a slow link to its database is seconds late on three events,
and refusing writes would relieve nothing.

Between two measurements, an API admits no more writes than the last one left room for
(`Lateness.room`: what the slowest group applies in the allowed delay, less what waits), so the
queue does not grow past the limit while nobody looks.

The probe measures only while the API is given writes to judge: after IDLE_AFTER_S without one
it rests (its gauges read NaN, not a stale value) until the next write, which is admitted on what
was last known, as any write is before the first measurement. An idle deployment's three probes
asked Kafka some 80 times a second for nothing (bench row 4r); a service whose API is never
written to (the notifications API while recommendations are issued) asks nothing at all.

Only partitions whose committed offset moves count (`GroupProgress`): a consumer that crashed (its
partitions not yet handed over) or whose broker is away is an outage, not overload. Its events
wait safely in Kafka, alerts and readiness report it, and refusing writes would only add a second
outage to the first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.platform import metrics
from shared.platform.periodic import sleep_unless

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 0.25
HISTORY_S = 60.0  # how far back end offsets are remembered: a delay past it reads as HISTORY_S
STALLED_AFTER_S = 1.5  # a partition whose committed offset has not moved for this long does not count
RATE_WINDOW_S = STALLED_AFTER_S  # a counted partition has moved within it, so its rate is known
MIN_BACKLOG = 100  # fewer events waiting than this is never overload, however old the oldest
FRESH_FOR_S = 2.0  # a measurement older than this is unknown (Kafka away): admission ignores it
GROUPS_REFRESH_S = 2.0  # how often the deployment's groups and their members are listed again
IDLE_AFTER_S = HISTORY_S  # no write to judge for this long: the probe rests until the next one


@dataclass
class EndHistory:
    """When one partition's end offset moved, over the last HISTORY_S."""

    samples: deque[tuple[float, int]] = field(default_factory=deque)  # (time, end offset), ascending

    def record(self, at: float, end: int) -> None:
        if not self.samples or end != self.samples[-1][1]:
            self.samples.append((at, end))
        while len(self.samples) > 1 and self.samples[1][0] < at - HISTORY_S:
            self.samples.popleft()  # the oldest sample stays as the floor of what is known

    @property
    def end(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    def appended_by(self, offset: int) -> float | None:
        """The first moment the event at `offset` was known to exist (the end had passed it);
        None when it does not exist yet. Before the history starts: its first sample."""
        for at, end in self.samples:
            if end > offset:
                return at
        return None


@dataclass(frozen=True)
class Lateness:
    """How late a group (or the pipeline) is: since when its oldest unapplied event waits, and how
    many events wait."""

    delay_s: float = 0.0
    events: int = 0
    drain_s: float = 0.0  # how long the waiting events take at the rate the group applies them
    rate: float = 0.0  # events the group applies per second (over RATE_WINDOW_S)

    @property
    def wait_s(self) -> float:
        """How long a write accepted now waits for its effects, as far as can be told: its
        predecessors' drain time, or the oldest one's age when that says more."""
        return max(self.delay_s, self.drain_s)

    def overloaded(self, max_delay_s: float) -> bool:
        """Far behind, and late or slow to drain. Late alone is a slow link (a consumer 300 ms
        from its database takes seconds per batch even for three events), and refusing writes
        relieves nothing; a queue of events that is also old, or that the group will take longer
        than the delay to apply, is load the consumers cannot keep up with."""
        return self.wait_s > max_delay_s and self.events >= MIN_BACKLOG

    def room(self, max_delay_s: float) -> int | None:
        """How many more events may join the queue before it holds more than the group applies
        in `max_delay_s` at its rate (or MIN_BACKLOG, when that is more: fewer is never overload).
        None while the group applies nothing: no rate to bound by (idle, or not measured)."""
        if not self.rate:
            return None
        return max(0, max(MIN_BACKLOG, int(self.rate * max_delay_s)) - self.events)


@dataclass
class PartitionProgress:
    committed: int | None = None  # None: not read yet
    moved_at: float = float("-inf")  # never seen moving
    recent: deque[tuple[float, int]] = field(default_factory=deque)  # (time, committed) over RATE_WINDOW_S

    def record(self, at: float, offset: int) -> None:
        if self.committed is not None and offset != self.committed:
            self.moved_at = at
        self.committed = offset
        self.recent.append((at, offset))
        while len(self.recent) > 1 and self.recent[1][0] <= at - RATE_WINDOW_S:
            self.recent.popleft()  # the last sample before the window stays: where the window starts from

    def rate(self) -> float:
        """Events applied per second within RATE_WINDOW_S, counted from the last moment before it
        started moving there: a partition that stood idle and then took a burst is as fast as it
        has been since the burst began, not that fast spread over the idle time."""
        if not self.recent:
            return 0.0
        start_at, start = self.recent[0]
        for at, offset in self.recent:
            if offset != start:
                break
            start_at = at
        last_at, last = self.recent[-1]
        return (last - start) / (last_at - start_at) if last_at > start_at and last > start else 0.0


@dataclass
class GroupProgress:
    """A consumer group's committed offsets on the stream, and when each last moved. A partition
    counts only while its offset moves: one whose consumer is gone (a worker killed, its
    partitions not yet handed over; a group renamed) or stuck keeps its offset, and saying so is
    the job of alerts, not of admission."""

    partitions: dict[TopicPartition, PartitionProgress] = field(default_factory=dict)

    def update(self, at: float, committed: dict[TopicPartition, int]) -> None:
        for tp, offset in committed.items():
            self.partitions.setdefault(tp, PartitionProgress()).record(at, offset)

    def lateness(self, now: float, ends: dict[TopicPartition, EndHistory]) -> Lateness:
        """Over the partitions seen moving within STALLED_AFTER_S: how long ago the oldest event
        not applied was appended, how many wait, and how long the group takes to apply them at
        its recent rate (its partitions are applied side by side: their rates add up)."""
        oldest, waiting, rate = now, 0, 0.0
        for tp, history in ends.items():
            progress = self.partitions.get(tp)
            if progress is None or progress.committed is None or now - progress.moved_at > STALLED_AFTER_S:
                continue
            rate += progress.rate()
            if (at := history.appended_by(progress.committed)) is not None:
                oldest, waiting = min(oldest, at), waiting + history.end - progress.committed
        return Lateness(now - oldest, waiting, waiting / rate if rate else 0.0, rate)


def slowest(groups: list[Lateness]) -> Lateness:
    """The pipeline is as late as its slowest group far behind, or else its slowest group (none:
    not late): a group three events behind but slow must not hide another that is overloaded."""
    return max(groups, key=lambda g: (g.events >= MIN_BACKLOG, g.wait_s, g.events), default=Lateness())


class PipelineDelay:
    """Measures, every PROBE_INTERVAL_S, how far behind the deployment's running consumer groups
    (named `<group_prefix>…`, the default of `ServiceSettings.consumer_group`) are on `topics`.
    Its own Kafka clients are built when it runs, closed when it stops."""

    def __init__(self, service: str, bootstrap: str, topics: list[str], group_prefix: str) -> None:
        self.service = service
        self.bootstrap = bootstrap
        self.topics = topics
        self.group_prefix = group_prefix
        self.ends: dict[TopicPartition, EndHistory] = {}
        self.groups: dict[str, GroupProgress] = {}
        self.partitions: list[TopicPartition] = []
        self.coordinators: dict[str, int] = {}  # the broker that holds each group's offsets
        self._late = Lateness()
        self._groups_late: list[Lateness] = []
        self._measured_at = float("-inf")
        self._groups_listed_at = float("-inf")
        self._wanted_at = float("-inf")  # when a write was last judged (`wanted`)
        self._wanted = asyncio.Event()

    def wanted(self) -> None:
        """A write is being judged: the probe measures while they come (see the module's docstring)."""
        self._wanted_at = time.monotonic()
        self._wanted.set()

    def resting(self) -> bool:
        return time.monotonic() - self._wanted_at > IDLE_AFTER_S

    def late(self) -> Lateness | None:
        """The latest measurement, or None when it is not fresh (Kafka away, probe not started).
        The same object until the next measurement."""
        return self._late if time.monotonic() - self._measured_at < FRESH_FOR_S else None

    def room(self, max_delay_s: float) -> int | None:
        """As of the latest measurement, how many more events the pipeline has room for: the
        least of its groups' (`Lateness.room`); None when no group bounds it or it is not fresh."""
        if self.late() is None:
            return None
        return min((r for g in self._groups_late if (r := g.room(max_delay_s)) is not None), default=None)

    def note(self, groups: list[Lateness], at: float) -> None:
        """Record a measurement of every group (`measure`; tests give their own)."""
        self._groups_late, self._late, self._measured_at = groups, slowest(groups), at
        metrics.PIPELINE_DELAY.labels(self.service).set(self._late.delay_s)
        metrics.PIPELINE_BACKLOG.labels(self.service).set(self._late.events)
        metrics.PIPELINE_DRAIN.labels(self.service).set(self._late.drain_s)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=f"{self.service}-pipeline-probe")
            ends = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, client_id=f"{self.service}-pipeline-probe")
            try:
                await admin.start()
                await ends.start()
                while not stop.is_set():
                    self._wanted.clear()
                    if self.resting():
                        self._rest()
                        await sleep_unless(stop, HISTORY_S, self._wanted)
                        continue
                    await self.measure(admin, ends)
                    await sleep_unless(stop, PROBE_INTERVAL_S)
            except Exception as exc:  # broker away, topic not there yet: unknown until it is back
                log.debug("%s: pipeline probe failed (%s); retrying", self.service, exc)
                await sleep_unless(stop, 1.0)
            finally:
                await ends.stop()
                await admin.close()

    def _rest(self) -> None:
        """No measurement while no write comes: unknown, not the last value (stale at once). The
        history goes too: after a rest the probe starts afresh, as when it started, rather than
        spread what the groups applied meanwhile over the whole rest (a rate near zero)."""
        self._measured_at = float("-inf")
        self.ends.clear()
        self.groups = {name: GroupProgress() for name in self.groups}
        for gauge in (metrics.PIPELINE_DELAY, metrics.PIPELINE_BACKLOG, metrics.PIPELINE_DRAIN):
            gauge.labels(self.service).set(float("nan"))

    async def measure(self, admin: AIOKafkaAdminClient, ends: AIOKafkaConsumer) -> None:
        now = time.monotonic()
        if now - self._groups_listed_at > GROUPS_REFRESH_S:
            await self._list_groups(admin, now)
        partitions = self.partitions
        if not partitions:
            return  # the topic does not exist yet: nothing can be behind on it
        for tp, end in (await ends.end_offsets(partitions)).items():
            self.ends.setdefault(tp, EndHistory()).record(now, end)
        for group, progress in self.groups.items():
            offsets = await admin.list_consumer_group_offsets(group, self.coordinators[group], partitions)
            progress.update(now, {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0})
        self.note([p.lateness(now, self.ends) for p in self.groups.values()], now)

    async def _list_groups(self, admin: AIOKafkaAdminClient, now: float) -> None:
        """The topics' partitions and the deployment's groups, again every GROUPS_REFRESH_S
        (partitions are added and groups appear rarely). Whether a group has members is not asked
        (aiokafka 0.14 fails to decode some DescribeGroups answers): whether it moves is enough."""
        described = await admin.describe_topics()  # all topics: naming one may create it on some brokers
        self.partitions = [
            TopicPartition(t["topic"], p["partition"])
            for t in described
            if t["topic"] in self.topics and not t["error_code"]
            for p in t["partitions"]
        ]
        names = sorted(str(g[0]) for g in await admin.list_consumer_groups() if str(g[0]).startswith(self.group_prefix))
        self.groups = {name: self.groups.get(name) or GroupProgress() for name in names}
        self.coordinators = {name: await admin.find_coordinator(name) for name in names}
        self._groups_listed_at = now
