"""Which handler applies which event, keyed by the payload class (the contract), never by strings.

A service declares one `Router` for the batch context its handlers share, and registers each
handler for the payload classes it takes:

    router: Router[Batch] = Router(Batch.begin)

    @router.on(RecommendationIssued)
    async def issued(batch: Batch, payload: RecommendationIssued, event: Event) -> None: ...

Everything else derives from the router: the topics the consumer subscribes to (each payload
class names its stream), the only event types it decodes (any other type or version is skipped
unread, so a producer may add types without poisoning this consumer), the AsyncAPI document.

The batch context is built once per consumed batch by `begin(session, sink, events)`: the
transaction, where emitted events go, and whatever the handlers prefetch for the whole batch.
It is passed to each handler explicitly, never hidden in the session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts.envelope import Event, P, Payload
from shared.platform.outbox import EventSink

C = TypeVar("C")
Handler = Callable[[C, P, Event], Awaitable[None]]
BeginBatch = Callable[[AsyncSession, EventSink, Sequence[Event]], Awaitable[C]]


class Route(Generic[C]):
    """One payload class and the handler that applies it."""

    def __init__(self, payload: type[Payload], handler: Handler[C, Any]) -> None:
        self.payload = payload
        self.handler = handler


class Router(Generic[C]):
    def __init__(self, begin: BeginBatch[C]) -> None:
        self.begin = begin
        self._routes: dict[str, Route[C]] = {}  # by versioned type, derived from the payload class

    def on(self, payload: type[P]) -> Callable[[Handler[C, P]], Handler[C, P]]:
        """Decorator: the handler applies events of `payload` (one handler of several: `add` each)."""

        def register(handler: Handler[C, P]) -> Handler[C, P]:
            self.add(payload, handler)
            return handler

        return register

    def add(self, payload: type[P], handler: Handler[C, P]) -> None:
        event_type = payload.versioned_type()
        if event_type in self._routes:
            raise ValueError(f"{event_type} already has a handler")
        self._routes[event_type] = Route(payload, handler)

    def route(self, event_type: str | None) -> Route[C] | None:
        """The route of a message's `ce_type`, or None: this service does not handle it."""
        return self._routes.get(event_type or "")

    @property
    def payloads(self) -> list[type[Payload]]:
        return [route.payload for route in self._routes.values()]

    @property
    def streams(self) -> list[str]:
        """The streams (topics without their prefix) this router's events are published on."""
        return sorted({payload.stream for payload in self.payloads})
