"""The commits behind a consumer (shared/platform/offsets.py `OffsetCommits`): one in flight, the
latest offset of each partition, no more often than `every_s`; a clean stop commits the rest; a
failure reaches the loop; a partition moved away is not committed. The commit function here is the
consumer's stand-in (tests/integration/test_consumer.py runs the real one on Kafka)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from shared.platform.offsets import OffsetCommits, Offsets
from tests.support import eventually

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


class Kafka:
    """Records each commit; one can be held open to see what piles up behind it."""

    def __init__(self) -> None:
        self.commits: list[Offsets] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.hold = asyncio.Event()
        self.hold.set()
        self.fail: Exception | None = None

    async def commit(self, offsets: Offsets) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.hold.wait()
            if self.fail is not None:
                raise self.fail
            self.commits.append(dict(offsets))
        finally:
            self.in_flight -= 1


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_offsets_applied_during_a_commit_go_together_in_the_next_one() -> None:
    kafka = Kafka()
    commits = OffsetCommits(kafka.commit, every_s=0.0)
    kafka.hold.clear()
    commits.applied({A: 1})
    await settle()  # the first commit is in flight, held
    commits.applied({A: 2, B: 5})
    commits.applied({A: 3})
    kafka.hold.set()
    await commits.flush()
    assert kafka.commits == [{A: 1}, {A: 3, B: 5}]
    assert kafka.most_in_flight == 1


class Clock:
    """The commits' clock, moved by the test: their turns do not depend on how fast the machine is."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_commits_are_spaced_and_the_polls_between_them_merge() -> None:
    kafka = Kafka()
    clock = Clock()
    commits = OffsetCommits(kafka.commit, every_s=0.05, clock=clock)
    commits.applied({A: 1})
    await settle()
    assert kafka.commits == [{A: 1}], "the first goes at once"
    for offset in range(2, 6):  # four polls within every_s, by the commits' clock
        clock.now += 0.01
        commits.applied({A: offset})
        await settle()
    await asyncio.sleep(0.2)  # four times every_s in real time: only the clock says when the turn comes
    assert kafka.commits == [{A: 1}], "the next waits for its turn"
    clock.now += 0.05
    await eventually(lambda: _true(len(kafka.commits) == 2), timeout=5, what="the second commit")
    assert kafka.commits == [{A: 1}, {A: 5}], "then carries the latest offset"


async def _true(value: bool) -> bool:
    return value


async def test_a_clean_stop_commits_what_is_pending_at_once() -> None:
    kafka = Kafka()
    commits = OffsetCommits(kafka.commit, every_s=60.0)
    commits.applied({A: 1})
    await settle()
    commits.applied({A: 2})  # would wait a minute for its turn
    await asyncio.wait_for(commits.flush(), 5)
    assert kafka.commits == [{A: 1}, {A: 2}]


async def test_a_failed_commit_reaches_the_loop_once() -> None:
    kafka = Kafka()
    kafka.fail = TimeoutError("the coordinator is away")
    commits = OffsetCommits(kafka.commit, every_s=0.0)
    commits.applied({A: 1})
    await settle()
    with pytest.raises(TimeoutError):
        commits.raise_failure()
    commits.raise_failure()  # raised once: the loop has replaced its client by now


async def test_a_partition_moved_away_and_a_dropped_client_commit_nothing() -> None:
    kafka = Kafka()
    commits = OffsetCommits(kafka.commit, every_s=60.0)
    commits.applied({A: 1})
    await settle()
    commits.applied({A: 2, B: 7})
    commits.forget([B])
    await commits.flush()
    assert kafka.commits == [{A: 1}, {A: 2}]
    commits.applied({A: 3})
    await commits.drop()  # the client is replaced: its successor redelivers from the committed offsets
    await commits.flush()
    assert kafka.commits == [{A: 1}, {A: 2}]
