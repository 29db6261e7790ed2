"""A consumer's offset commits, behind its work: at most one in flight, at most every COMMIT_EVERY_S.

The consumer hands over a poll's offsets once the poll's effects are committed in the database
(`applied`) and goes on with the next poll at once; the offsets reach Kafka in the background.
Each commit carries the latest offset of every partition applied since the last one, so at 50
events a second a consumer sends ten commits a second instead of fifty, and no poll waits for one.

Why: the offset commit after every poll was a Kafka round trip on the path of the next poll's
events (poll n+1 was applied only once poll n's offsets were committed), and a third of the
chain's Kafka requests. Committed later, an offset costs nothing in safety: whatever was applied
and not yet committed is redelivered after a crash or a rebalance, and the inbox drops it, as it
always did for the poll in flight. What moves is only how much is redelivered (COMMIT_EVERY_S of
events at most) and how far behind the committed offsets (which the admission probe reads) lag.

A failed commit is kept until the consumer's loop asks (`raise_failure`): the loop replaces its
Kafka client, as it did when a commit failed in line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

from aiokafka import TopicPartition

from shared.platform.periodic import sleep_unless

COMMIT_EVERY_S = 0.1  # the least time from one commit's start to the next one's

Offsets = dict[TopicPartition, int]


class OffsetCommits:
    """The offsets applied and not yet committed, and the one commit that carries them."""

    def __init__(
        self,
        commit: Callable[[Offsets], Awaitable[None]],
        every_s: float = COMMIT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._commit = commit
        self.every_s = every_s
        self._clock = clock  # what says a commit's turn has come (tests give their own)
        self._pending: Offsets = {}
        self._committing: asyncio.Task[None] | None = None
        self._last_start = float("-inf")
        self._now = asyncio.Event()  # set by `flush`: the commit waiting for its turn goes at once

    def applied(self, offsets: Offsets) -> None:
        """Offsets whose records' effects are committed: they go with the next commit."""
        self._pending.update(offsets)
        if self._committing is None or (self._committing.done() and self._committing.exception() is None):
            self._committing = asyncio.ensure_future(self._commit_pending())

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions moved to another instance: their offsets are theirs to commit now."""
        for tp in partitions:
            self._pending.pop(tp, None)

    def raise_failure(self) -> None:
        """The error of the last commit, if it failed (raised once)."""
        if self._committing is not None and self._committing.done() and self._committing.exception() is not None:
            failed, self._committing = self._committing, None
            failed.result()

    async def flush(self) -> None:
        """Commit what is pending now, and wait for it (a clean stop leaves nothing to redeliver)."""
        self._now.set()
        try:
            if self._committing is not None:
                await self._committing  # raises its failure
            if self._pending:
                self._committing = asyncio.ensure_future(self._commit_pending())
                await self._committing
        finally:
            self._now.clear()

    async def drop(self) -> None:
        """Give up what is pending and the commit in flight (the client is being replaced: its
        successor starts from the committed offsets and redelivers the rest)."""
        self._pending.clear()
        if self._committing is not None:
            self._committing.cancel()
            await asyncio.gather(self._committing, return_exceptions=True)  # its end, whatever it was
            self._committing = None

    async def _commit_pending(self) -> None:
        while self._pending:
            # What is applied meanwhile joins this commit. The clock, read again after each sleep,
            # says when its turn has come; `flush` ends the wait at once.
            while not self._now.is_set() and (wait := self._last_start + self.every_s - self._clock()) > 0:
                await sleep_unless(self._now, wait)
            offsets, self._pending = self._pending, {}
            self._last_start = self._clock()
            await self._commit(offsets)
