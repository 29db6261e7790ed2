"""The fault harness: the whole system under a steady load, faults injected one after another at
random moments, then the auditor; a table of what each fault cost.

`python -m tests.faults.harness --minutes 10` (`make chaos`) runs the long version and writes
docs/reliability.md; tests/faults/test_faults.py runs the short one (each fault once) in the suite.

Recovery time of a fault = from its end (the process killed, the broker or PostgreSQL started
again, the receiver or the network back) until a canary recommendation, issued right then, has
its follow-up in the evaluations database (for the receiver: until nothing delivered before its
return is still pending). Its target, RECOVERY_TARGET_S, is a speed target: the table's notes
report the faults over it, nothing asserts it; not recovered within RECOVERY_TIMEOUT_S is a
failure. 5xx answers count as expected only from PostgreSQL's stop until that fault has
recovered; every other 5xx is unexpected.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from tests.faults.auditor import Audit, audit
from tests.faults.load import Load
from tests.faults.system import PROXIED_WORKER, ChaosSystem

RECOVERY_TIMEOUT_S = 120.0  # not recovered by then: a failure (tests/faults/test_faults.py asserts it)
RECOVERY_TARGET_S = 30.0  # how fast each fault should recover: a target the table reports, never asserted
REPORT = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


@dataclass
class Injection:
    fault: str
    started: float
    ended: float = 0.0
    recovered: float | None = None
    note: str = ""

    @property
    def recovery_s(self) -> float | None:
        return None if self.recovered is None else max(0.0, self.recovered - self.ended)


@dataclass
class Run:
    injections: list[Injection] = field(default_factory=list)
    audit: Audit | None = None
    operations: int = 0
    unexpected_5xx: list[tuple[float, str]] = field(default_factory=list)
    expected_503: int = 0
    backpressure_503: int = 0  # writes refused while the consumers downstream were behind (expected)
    load_s: float = 0.0
    crashes: list[str] = field(default_factory=list)  # process exits nobody caused on purpose


class Harness:
    def __init__(self, system: ChaosSystem, load: Load, *, receiver_down_s: float, outage_s: float, seed: int) -> None:
        self.system = system
        self.load = load
        self.receiver_down_s = receiver_down_s
        self.outage_s = outage_s
        self.random = random.Random(seed)
        self.run = Run()
        self.faults: dict[str, Callable[[Injection], Awaitable[None]]] = {
            "SIGKILL consumer (worker) mid-batch": self.kill_consumer,
            "SIGKILL active outbox relay": self.kill_relay,
            "SIGKILL Kafka broker, restart": self.kill_broker,
            "PostgreSQL stopped, restarted": self.stop_postgres,
            "worker instances added, then removed": self.scale,
            "webhook receiver down": self.receiver_down,
            "webhook receiver hangs": self.receiver_hangs,
            "latency 300 ms, worker <-> Kafka and PostgreSQL": self.latency,
            "connections cut, worker <-> Kafka and PostgreSQL": self.cut,
        }

    # The faults -------------------------------------------------------------------------------

    async def kill_consumer(self, i: Injection) -> None:
        victim = self.random.choice(self.system.workers("evaluations") + self.system.workers("notifications"))
        await self._when_busy()
        i.note = f"{victim} pid {self.system.kill(victim)}"

    async def kill_relay(self, i: Injection) -> None:
        holder = await self.system.relay_holder("recommendations")
        victim = holder or self.random.choice(self.system.workers("recommendations"))
        i.note = f"{victim} pid {self.system.kill(victim)}" + ("" if holder else " (lock not caught: a random worker)")

    async def kill_broker(self, i: Injection) -> None:
        await asyncio.to_thread(self.system.kafka.kill)
        await asyncio.sleep(self.outage_s)
        await asyncio.to_thread(self.system.kafka.start)

    async def stop_postgres(self, i: Injection) -> None:
        await asyncio.to_thread(self.system.pg.stop)
        await asyncio.sleep(self.outage_s)
        await asyncio.to_thread(self.system.pg.start)

    async def scale(self, i: Injection) -> None:
        added = [self.system.add_worker("evaluations"), self.system.add_worker("notifications")]
        await asyncio.sleep(self.outage_s * 1.5)
        for worker in added:  # a polite stop (SIGTERM): the group rebalances back
            await asyncio.to_thread(self.system.supervisor.stop, worker)
        i.note = ", ".join(added)

    async def receiver_down(self, i: Injection) -> None:
        await self.system.receiver.down()
        await asyncio.sleep(self.receiver_down_s)
        await self.system.receiver.up()

    async def receiver_hangs(self, i: Injection) -> None:
        self.system.receiver.hang()
        await asyncio.sleep(self.receiver_down_s)
        self.system.receiver.answer()

    async def latency(self, i: Injection) -> None:
        for proxy in (self.system.kafka_proxy, self.system.pg_proxy):
            proxy.latency_s = 0.3
        await asyncio.sleep(self.outage_s * 1.5)
        for proxy in (self.system.kafka_proxy, self.system.pg_proxy):
            proxy.heal()
        i.note = PROXIED_WORKER

    async def cut(self, i: Injection) -> None:
        for proxy in (self.system.kafka_proxy, self.system.pg_proxy):
            proxy.partition()
        await asyncio.sleep(self.outage_s)
        for proxy in (self.system.kafka_proxy, self.system.pg_proxy):
            proxy.heal()
        i.note = PROXIED_WORKER

    async def _when_busy(self) -> None:
        """Aim the kill between a consumer's effect and its offset commit: issue a burst (recorded
        like any operation), then strike a moment later, while its batches are being applied."""
        async with self.load.client("recommendations", "lead") as lead:
            await asyncio.gather(*(self.load.issue(lead) for _ in range(6)))
        await asyncio.sleep(self.random.uniform(0.05, 0.4))

    # Running them -----------------------------------------------------------------------------

    async def inject(self, fault: str) -> Injection:
        injection = Injection(fault=fault, started=time.monotonic())
        self.run.injections.append(injection)
        self.system.say(f"fault: {fault}")
        await self.faults[fault](injection)
        injection.ended = time.monotonic()
        receiver = fault in ("webhook receiver down", "webhook receiver hangs")
        injection.recovered = await (self._deliveries_caught_up() if receiver else self._canary())
        shown = "NOT recovered" if injection.recovery_s is None else f"recovered in {injection.recovery_s:.1f}s"
        self.system.say(f"  {shown} {injection.note}")
        return injection

    async def _canary(self) -> float | None:
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        rec = None
        async with self.load.client("recommendations", "lead") as lead:
            while rec is None and time.monotonic() < deadline:
                rec = await self.load.issue(lead)
                if rec is None or not rec.certain:
                    rec = None
                    await asyncio.sleep(0.5)
        while rec is not None and time.monotonic() < deadline:
            if await self.load.followup_of(rec) is not None:
                return time.monotonic()
            await asyncio.sleep(0.2)
        return None

    async def _deliveries_caught_up(self) -> float | None:
        """Until no delivery created before the receiver's return is still pending."""
        back = datetime.now(UTC)
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                conn = await asyncpg.connect(self.system.database("notifications"))
                try:
                    query = "SELECT count(*) FROM delivery WHERE status = 'pending' AND created_at < $1"
                    waiting = await conn.fetchval(query, back)
                finally:
                    await conn.close()
                if waiting == 0:
                    return time.monotonic()
            except (OSError, asyncpg.PostgresError):
                pass
            await asyncio.sleep(0.5)
        return None

    async def execute(self, schedule: list[str], gap_s: tuple[float, float]) -> Run:
        stop = asyncio.Event()
        started = time.monotonic()
        load = asyncio.create_task(self.load.run(stop))
        try:
            await asyncio.sleep(self.random.uniform(*gap_s))
            await self.load.send_poison()
            for fault in schedule:
                await asyncio.sleep(self.random.uniform(*gap_s))
                await self.inject(fault)
            await asyncio.sleep(self.random.uniform(*gap_s))
        finally:
            stop.set()
            await load
        self.run.load_s = time.monotonic() - started
        self.run.operations = self.load.ledger.operations
        self._classify_answers()
        self.run.audit = await audit(self.system, self.load.ledger)
        self.run.crashes = self.system.unexpected_exits()
        return self.run

    def _classify_answers(self) -> None:
        windows = [
            (i.started, i.recovered or float("inf")) for i in self.run.injections if i.fault == "PostgreSQL stopped, restarted"
        ]
        for answer in self.load.ledger.answers:
            if answer.status < 500 and answer.status != 0:
                continue
            if answer.status == 503 and any(a <= answer.at <= b for a, b in windows):
                self.run.expected_503 += 1
            elif answer.backpressure:
                self.run.backpressure_503 += 1
            else:
                self.run.unexpected_5xx.append((answer.at, f"{answer.status} {answer.method} {answer.service}{answer.path}"))

    # The table --------------------------------------------------------------------------------

    def table(self) -> str:
        assert self.run.audit is not None
        a = self.run.audit
        rows = [
            "| fault | injected | requests in its windows | lost | applied twice | 5xx outside the fault window "
            "| writes refused, downstream behind | recovery median (s) | recovery max (s) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for fault in self.faults:
            injections = [i for i in self.run.injections if i.fault == fault]
            if not injections:
                continue
            windows = [(i.started, i.recovered or float("inf")) for i in injections]

            def inside(at: float | None, windows: list[tuple[float, float]] = windows) -> bool:
                return at is not None and any(s <= at <= e for s, e in windows)

            ops = sum(1 for x in self.load.ledger.answers if inside(x.at))
            lost = sum(1 for f in a.lost if inside(f.at))
            twice = sum(1 for f in a.twice if inside(f.at))
            errors = sum(1 for at, _ in self.run.unexpected_5xx if inside(at))
            waited = sum(1 for x in self.load.ledger.answers if x.backpressure and inside(x.at))
            times = [i.recovery_s for i in injections]
            done = [t for t in times if t is not None]
            median = f"{statistics.median(done):.1f}" if done else "-"
            worst = "not recovered" if None in times else f"{max(done):.1f}"
            rows.append(f"| {fault} | {len(injections)} | {ops} | {lost} | {twice} | {errors} | {waited} | {median} | {worst} |")
        rows.append(
            f"| **whole run** ({self.run.load_s:.0f} s of load) | {len(self.run.injections)} | {self.run.operations} "
            f"| {len(a.lost)} | {len(a.twice)} | {len(self.run.unexpected_5xx)} | {self.run.backpressure_503} | | |"
        )
        over = [
            f"{i.fault} ({'not recovered' if i.recovery_s is None else f'{i.recovery_s:.1f} s'})"
            for i in self.run.injections
            if i.recovery_s is None or i.recovery_s > RECOVERY_TARGET_S
        ]
        notes = [
            "",
            f"- {self.run.operations} operations (issue, revise, withdraw, city update), {len(self.load.ledger.recs)} "
            f"recommendations, {len(self.load.ledger.updates)} city updates; {a.events} notifiable events, "
            f"{a.deliveries} deliveries to {len(self.load.ledger.subscriptions)} webhook subscribers; the receiver got "
            f"{a.webhooks} webhooks, {a.webhook_repeats} of them repeats (at-least-once, same webhook-id).",
            f"- {self.run.expected_503} answers were 503 + Retry-After while PostgreSQL was away (expected); "
            f"{self.run.backpressure_503} writes were refused with 503 + Retry-After while the consumers downstream "
            f"ran behind (expected: admission); {len(self.run.unexpected_5xx)} 5xx (or no answer) otherwise.",
            f"- poison messages sent: {len(self.load.ledger.poison)}; other problems: {a.problems or 'none'}; "
            f"drained {a.drained_in_s:.0f} s after the load stopped.",
            f"- processes that exited without being killed (restarted by the supervisor): {self.run.crashes or 'none'}.",
            f"- recovery target: every fault within {RECOVERY_TARGET_S:.0f} s (a target, read here; what the suite asserts "
            f"is recovery within {RECOVERY_TIMEOUT_S:.0f} s); over the target: {', '.join(over) or 'none'}.",
        ]
        return "\n".join(rows + notes)


async def run_harness(
    workdir: Path, *, minutes: float | None, receiver_down_s: float, outage_s: float, seed: int, rate: float
) -> tuple[Harness, str]:
    system = ChaosSystem(workdir)
    try:
        await system.start()
        load = Load(system, rate_per_s=rate, seed=seed)
        await load.setup()
        harness = Harness(system, load, receiver_down_s=receiver_down_s, outage_s=outage_s, seed=seed)
        faults = list(harness.faults)
        if minutes is None:  # the short version: each fault once, in a random order
            schedule = harness.random.sample(faults, len(faults))
            gap = (1.0, 3.0)
        else:  # the long version: rounds of every fault, random order and gaps, until the time is used
            per_round = len(faults) * (outage_s * 1.5 + 10) + receiver_down_s
            rounds = max(1, round(minutes * 60 / per_round))
            schedule = [f for _ in range(rounds) for f in harness.random.sample(faults, len(faults))]
            gap = (2.0, 8.0)
        await harness.execute(schedule, gap)
        return harness, harness.table()
    finally:
        await system.stop()


def write_report(table: str, title: str) -> None:
    REPORT.write_text(
        "# Reliability: what the system survives, measured\n\n"
        "Written by `make chaos` (tests/faults/harness.py): the whole system as real processes on one machine "
        "(PostgreSQL, one Kafka broker, three APIs, two `clusnet worker` processes per service in the same consumer "
        "groups, topics of 6 partitions), a steady load of issues, revisions, withdrawals and city updates with webhook "
        "subscribers on a loopback receiver, faults injected one after another at random moments, and an auditor "
        "that checks the invariants from the outside once the lag is back to zero. How each figure is measured is "
        "in the harness's docstring; the short version of this run is part of `make test`.\n\n"
        f"## {title}\n\n{table}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="the fault harness (make chaos)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--receiver-down-s", type=float, default=120.0)
    parser.add_argument("--outage-s", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=int(uuid.uuid4().int % 10_000))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="clusnet-chaos-"))
    _, table = asyncio.run(
        run_harness(
            workdir,
            minutes=args.minutes,
            receiver_down_s=args.receiver_down_s,
            outage_s=args.outage_s,
            seed=args.seed,
            rate=args.rate,
        )
    )
    print(table)
    title = f"Long run: {args.minutes:g} minutes, seed {args.seed}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    write_report(table, title)
    print(f"\nwritten to {REPORT} (logs in {workdir})")


if __name__ == "__main__":
    main()
