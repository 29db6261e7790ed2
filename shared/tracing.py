"""W3C trace context carried from an HTTP request into its events, and from a consumed event into
the events its handler emits, so one trace id follows a recommendation from the lead partner's
request to the stakeholder's webhook (whose `traceparent` header carries it on)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str | None] = ContextVar("traceparent", default=None)


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_of(parent: str | None) -> str:
    """Same trace, new span; a new trace when `parent` is missing or malformed."""
    match = TRACEPARENT.match(parent or "")
    if not match or match.group(1) == "0" * 32:
        return new_traceparent()
    return f"00-{match.group(1)}-{secrets.token_hex(8)}-{match.group(3)}"


def current_child() -> str:
    return child_of(_current.get())


def trace_id(traceparent: str | None) -> str | None:
    match = TRACEPARENT.match(traceparent or "")
    return match.group(1) if match else None


def current_trace_id() -> str | None:
    return trace_id(_current.get())


@contextmanager
def continuing(traceparent: str | None) -> Iterator[None]:
    token = _current.set(traceparent)
    try:
        yield
    finally:
        _current.reset(token)


class TraceContext:
    """Takes the request's `traceparent` (or starts a trace) for everything the request emits."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"traceparent", b"").decode(errors="replace")
        with continuing(child_of(header)):
            await self.app(scope, receive, send)
