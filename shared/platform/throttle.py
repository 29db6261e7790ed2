"""Throttling of failed authentication per client address.

A client that keeps sending bad or missing bearer tokens costs a token-database read per request
and may be guessing. After `limit` failures (e.g. "20/minute") from one address, that address is
answered 429 with Retry-After for anything needing a token it has not already proved, until the
window moves on. Other addresses are not affected, and a token this process verified recently
(the principal cache) keeps working from the throttled address too, so a colleague behind the
same NAT is not locked out by someone else's typos (a guesser cannot get a token into the cache).

The counting is the `limits` library's moving window (the engine of slowapi and Flask-Limiter,
maintained and tested), not a hand-written bucket: it is exact at the window's edges and its
storage is a URI, so several API instances can share one budget by pointing
RATE_LIMIT_STORAGE_URI at Redis or Memcached instead of the per-process default (docs/scaling.md).
"""

from __future__ import annotations

import math
import time

import limits
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from shared.platform.errors import TooManyRequests


class AuthFailureThrottle:
    def __init__(self, limit: str, storage_uri: str = "async+memory://") -> None:
        self.item = limits.parse(limit)
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    async def refuse_if_exhausted(self, address: str) -> None:
        """Raise TooManyRequests while `address` has used up its failures."""
        if await self.limiter.test(self.item, "auth-failures", address):
            return
        stats = await self.limiter.get_window_stats(self.item, "auth-failures", address)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(
            f"too many requests without a valid token from {address}; retry in {retry_after} seconds", retry_after
        )

    async def failed(self, address: str) -> None:
        await self.limiter.hit(self.item, "auth-failures", address)
