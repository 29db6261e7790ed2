"""The portal's own rules, pure (no framework): session expiry and sign-in throttling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class SessionState(StrEnum):
    active = "active"
    idle = "idle"  # unused for longer than the idle limit
    expired = "expired"  # past its absolute expiry


def session_state(now: datetime, last_seen: datetime, expires_at: datetime, idle_limit: timedelta) -> SessionState:
    if now >= expires_at:
        return SessionState.expired
    if now - last_seen >= idle_limit:
        return SessionState.idle
    return SessionState.active


# Writing last_seen on every request would cost a write per page; once a minute is precise enough
# for an idle limit counted in tens of minutes.
TOUCH_EVERY = timedelta(minutes=1)


def needs_touch(now: datetime, last_seen: datetime) -> bool:
    return now - last_seen >= TOUCH_EVERY


@dataclass(frozen=True)
class ThrottleLimits:
    per_account: int
    per_address: int
    window: timedelta


def sign_in_throttled(account_failures: int, address_failures: int, limits: ThrottleLimits) -> bool:
    """Too many recent failures for this email, or from this address: refuse without checking the
    password, so guessing costs time whichever of the two the guesser varies."""
    return account_failures >= limits.per_account or address_failures >= limits.per_address
