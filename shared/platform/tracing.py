"""W3C trace context carried from an HTTP request into its events, and from a consumed event into
the events its handler emits, so one trace id follows a recommendation from the lead partner's
request to the stakeholder's webhook (whose `traceparent` header carries it on).

Spans are recorded with OpenTelemetry and exported over OTLP only when configured (the standard
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): otherwise the trace
context is still propagated, and nothing else happens.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Receive, Scope, Send

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str | None] = ContextVar("traceparent", default=None)
_tracer: trace.Tracer | None = None  # set by enable_export(); None: propagate only
_provider: TracerProvider | None = None


def _random_id(bits: int) -> str:
    """A trace or span id: unique, not secret, so `random` as OpenTelemetry's own id generator does
    (`secrets` read the OS's entropy pool for every event emitted: a tenth of a consumer's time)."""
    return f"{random.getrandbits(bits) or 1:0{bits // 4}x}"  # all zeros is not a valid id


def new_traceparent() -> str:
    return f"00-{_random_id(128)}-{_random_id(64)}-01"


def child_of(parent: str | None) -> str:
    """Same trace, new span; a new trace when `parent` is missing or malformed."""
    match = TRACEPARENT.match(parent or "")
    if not match or match.group(1) == "0" * 32:
        return new_traceparent()
    return f"00-{match.group(1)}-{_random_id(64)}-{match.group(3)}"


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


def enable_export(service: str, exporter: SpanExporter | None = None) -> bool:
    """Record spans and export them, if configured (or to `exporter`); answer whether it is on."""
    global _tracer, _provider
    if exporter is None:
        if not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
            return False
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    _provider = TracerProvider(resource=Resource.create({"service.name": service}))
    _provider.add_span_processor(BatchSpanProcessor(exporter))
    _tracer = _provider.get_tracer("clusnet")
    return True


def recording() -> bool:
    """Whether spans are recorded (export is on); when not, a span is only a new span id."""
    return _tracer is not None


def disable_export() -> None:
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()  # flushes what is pending
    _tracer = _provider = None


@contextmanager
def span(name: str, parent: str | None, kind: trace.SpanKind) -> Iterator[None]:
    """Work within the trace of `parent` (a traceparent): a recorded span when export is on,
    else a new span id; what is emitted inside continues from it."""
    if _tracer is None:
        with continuing(child_of(parent)):
            yield
        return
    context = TraceContextTextMapPropagator().extract({"traceparent": parent}) if TRACEPARENT.match(parent or "") else None
    with _tracer.start_as_current_span(name, context=context, kind=kind) as current:
        ids = current.get_span_context()
        with continuing(f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{ids.trace_flags:02x}"):
            yield


class TraceContext:
    """Takes the request's `traceparent` (or starts a trace) for everything the request emits."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"traceparent", b"").decode(errors="replace")
        with span(f"{scope['method']} {scope['path']}", header, trace.SpanKind.SERVER):
            await self.app(scope, receive, send)
