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

A route may also have a bulk handler (`@router.on_many(PayloadClass)`), a fast path taking a run
of consecutive events of that class at once, `(batch, [(payload, event), ...])`: it must write
exactly what the one-event handler would write for the same events (a test per fast path checks
it), and typically hands the cases it does not take in bulk to the one-event handler. The
consumer uses it for the events of a batch; replays of a failed batch, one event per transaction,
always go through the one-event handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from opentelemetry.trace import SpanKind
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts.envelope import Event, P, Payload
from shared.platform import tracing
from shared.platform.outbox import EventSink

C = TypeVar("C")
Handler = Callable[[C, P, Event], Awaitable[None]]
BulkHandler = Callable[[C, list[tuple[P, Event]]], Awaitable[None]]
BeginBatch = Callable[[AsyncSession, EventSink, Sequence[Event]], Awaitable[C]]


class Route(Generic[C]):
    """One payload class and the handler that applies it."""

    def __init__(self, payload: type[Payload], handler: Handler[C, Any]) -> None:
        self.payload = payload
        self.handler = handler
        self.bulk: BulkHandler[C, Any] | None = None
        self._bulk_of: Handler[C, Any] | None = None  # the one-event handler the bulk one speeds up

    def set_bulk(self, bulk: BulkHandler[C, Any]) -> None:
        self.bulk, self._bulk_of = bulk, self.handler

    @property
    def fast_path(self) -> BulkHandler[C, Any] | None:
        """The bulk handler, while the one-event handler is still the one it was written for (a
        handler replaced at run time, e.g. wrapped by a test or a diagnosis, takes its fast path
        with it: the events then all go through the replacement)."""
        return self.bulk if self.handler is self._bulk_of else None


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

    def on_many(self, payload: type[P]) -> Callable[[BulkHandler[C, P]], BulkHandler[C, P]]:
        """Decorator: the fast path for runs of `payload` events (its one-event handler comes first)."""

        def register(handler: BulkHandler[C, P]) -> BulkHandler[C, P]:
            route = self._routes.get(payload.versioned_type())
            if route is None:
                raise ValueError(f"{payload.versioned_type()} needs its one-event handler before a bulk one")
            route.set_bulk(handler)
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


@contextmanager
def applying(event: Event) -> Iterator[None]:
    """The span of applying a consumed event: what is emitted inside continues its trace. The
    consumer wraps each one-event handler in it; a bulk handler wraps each event's share of work."""
    with tracing.span(f"apply {event.type}", event.traceparent, SpanKind.CONSUMER):
        yield


def emitted_traceparent(event: Event) -> str:
    """The trace context of an event a bulk handler emits in response to `event`: what `applying`
    would give it. When spans are recorded, the `apply` span is recorded as around a one-event
    handler. When they are not (the default), that span's id would appear nowhere, so the emitted
    event is its consumed event's direct child: the same trace, a new span id, the same header
    as before, for one random draw rather than a context variable and two draws per event."""
    if not tracing.recording():
        return tracing.child_of(event.traceparent)
    with applying(event):
        return tracing.current_child()
