"""What every service's HTTP app has: problem+json errors, health, readiness, metrics, limits."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.platform import metrics
from shared.platform.db import database_unavailable
from shared.platform.errors import DomainError
from shared.platform.pipeline import Lateness, PipelineDelay
from shared.platform.tracing import TraceContext

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
ReadinessCheck = Callable[[], Awaitable[str | None]]  # answers None when fine, else the reason


PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
ERROR_MEANINGS = {
    400: "Malformed request",
    401: "No valid bearer token",
    403: "The role or city may not do this",
    404: "Unknown id",
    409: "Not allowed in the current state",
    412: "If-Match is stale",
    413: "Body too large",
    415: "The file's type is not accepted",
    422: "Invalid input",
    428: "If-Match is required",
    429: "Too many failed attempts from this address",
    503: (
        "A dependency (the database) is unavailable, the service is at capacity, or (a write) the services downstream "
        "are behind; retry after Retry-After seconds"
    ),
}
RETRY_AFTER_S = 5  # what a client is told to wait while the database is away


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers, all RFC 9457 problem documents."""
    return {code: {"description": ERROR_MEANINGS[code], "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}} for code in codes}


COMMON_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503)


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _describe(errors: list[Any]) -> str:
    parts = []
    for err in errors[:10]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def unavailable() -> JSONResponse:
    answer = problem(503, "Service unavailable", f"the database is unavailable right now; retry in {RETRY_AFTER_S} seconds")
    answer.headers["Retry-After"] = str(RETRY_AFTER_S)
    return answer


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        answer = problem(exc.status, exc.title, exc.detail, **exc.extra)
        answer.headers.update(exc.headers())
        return answer

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return problem(422, "Invalid input", _describe(errors), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail) if exc.status_code < 500 else "Error", str(exc.detail))

    @app.exception_handler(DBAPIError)
    async def database_refused(request: Request, exc: DBAPIError) -> JSONResponse:
        # Class 22 is "data exception": a value PostgreSQL cannot store (NUL byte, out of range…).
        state = getattr(exc.orig, "sqlstate", None) or getattr(getattr(exc.orig, "__cause__", None), "sqlstate", None)
        if database_unavailable(exc):
            return unavailable()
        if isinstance(state, str) and state.startswith("22"):
            return problem(
                422,
                "Invalid input",
                "a value cannot be stored (text must not contain NUL characters; numbers and dates must be in range)",
            )
        return await unexpected(request, exc)

    async def connection_lost(request: Request, exc: Exception) -> JSONResponse:
        # Registered per class so that ExceptionMiddleware answers (the catch-all below re-raises).
        if database_unavailable(exc):
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
            return unavailable()
        return await unexpected(request, exc)

    for cls in (OSError, PoolTimeout, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
        app.add_exception_handler(cls, connection_lost)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        if database_unavailable(exc):
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
            return unavailable()
        # Never a stack trace or SQL in an answer: it goes to the log only.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "The server could not complete the request; it has been logged.")


# Room for a multipart body's boundaries and other fields around an uploaded file.
MULTIPART_OVERHEAD = 64_000


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413 before the app reads them (pure ASGI).
    Paths matching `upload_paths` (file uploads) may carry `upload_max_bytes` instead."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, upload_max_bytes: int | None = None, upload_paths: str | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = (upload_max_bytes or max_bytes) + MULTIPART_OVERHEAD
        self.upload_paths = re.compile(upload_paths) if upload_paths else None

    def limit_for(self, path: str) -> int:
        return self.upload_max_bytes if self.upload_paths and self.upload_paths.fullmatch(path) else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await problem(413, "Payload too large", f"request bodies are limited to {max_bytes} bytes")(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > max_bytes:
                raise StarletteHTTPException(413, f"request bodies are limited to {max_bytes} bytes")
            return message

        await self.app(scope, limited, send)


class EventLoopLag:
    """How late this process's event loop runs its timers: a timer is due every `interval_s`, and
    the lag is how much later than due it ran. A loop starved of CPU (a saturated machine) or busy
    with a backlog runs everything late, including the answers to requests already accepted, so
    the lag says "overloaded" where a count of requests in progress cannot: connections waiting in
    the kernel are not counted anywhere. A timer handle (no task) re-armed by each tick; it starts
    on first use in the running loop (and again in a new loop, as in tests)."""

    def __init__(self, service: str, interval_s: float = 0.05) -> None:
        self.service = service
        self.interval_s = interval_s
        self.last_s = 0.0  # the lag the latest tick measured
        self.previous_s = 0.0  # and the one before
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due = 0.0

    def sustained_s(self) -> float:
        """The lag that lasts: the latest tick was late, and so was the tick before or the next
        one is overdue already (the loop is still busy). One late tick alone (a single long call
        that has ended: parsing an upload, a GC pause) is not overload, and the next request
        should not pay for it."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._start(loop)
        return min(self.last_s, max(self.previous_s, loop.time() - self._due))

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self.last_s, self.previous_s = loop, 0.0, 0.0
        self._arm()

    def _arm(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + self.interval_s
        self._loop.call_at(self._due, self._tick, self._loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop or loop.is_closed():
            return  # a probe restarted in another loop: this chain ends
        self.previous_s, self.last_s = self.last_s, max(0.0, loop.time() - self._due)
        metrics.EVENT_LOOP_LAG.labels(self.service).set(self.last_s)
        self._arm()


class AdmissionControl:
    """Bounds the work this process takes on; past it, answers 503 with Retry-After at once (pure
    ASGI, before any work). Three signals: more than `limit` requests in progress; the event loop
    running more than `max_lag_ms` late (see `EventLoopLag`) with `LAG_PRESSURE` requests or more
    in progress; and, for writes only, the consumers downstream overloaded: more than
    `max_pipeline_delay_ms` behind on this service's events (the oldest unapplied event's age, or
    the time the waiting ones take to apply) with `pipeline.MIN_BACKLOG` waiting
    (`pipeline.PipelineDelay`: the queue that forms past the API, which the first two cannot see),
    and between two of its measurements no more writes than the last one left room for.
    Under more load than the process can take, a queue only grows: every request waits behind the
    backlog and the client's timeouts fire after the work was done. Refusing the excess keeps the
    accepted requests fast and tells clients to come back. Operations endpoints (health, readiness,
    metrics) and event streams (long-lived by design) are never refused nor counted. A limit (or
    lag, or delay) of 0 admits everything."""

    EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
    READS = frozenset({"GET", "HEAD", "OPTIONS"})  # add nothing to the pipeline: never refused for its delay
    # The lag refuses only while this many requests are in progress here: a loop slowed by its
    # neighbours (another process's start, a test suite) while serving a trickle gains nothing by
    # refusing the trickle; a loop lagging under its own backlog does.
    LAG_PRESSURE = 8

    def __init__(
        self,
        app: ASGIApp,
        service: str,
        limit: int,
        max_lag_ms: float = 0,
        retry_after_s: int = 1,
        probe_interval_s: float = 0.05,
        pipeline: PipelineDelay | None = None,
        max_pipeline_delay_ms: float = 0,
    ) -> None:
        self.app = app
        self.service = service
        self.limit = limit
        self.max_lag_s = max_lag_ms / 1000
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self.lag = EventLoopLag(service, probe_interval_s) if max_lag_ms else None
        self.pipeline = pipeline if max_pipeline_delay_ms else None
        self.max_delay_s = max_pipeline_delay_ms / 1000
        self._room: int | None = None  # writes still admitted until the next measurement (None: no bound)
        self._room_of: Lateness | None = None  # the measurement it came from

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (self.limit or self.lag or self.pipeline) or self._exempt(scope):
            await self.app(scope, receive, send)
            return
        if self.limit and self.in_flight >= self.limit:
            await self._refuse(f"the service is at capacity ({self.limit} requests in progress)", scope, receive, send)
            return
        if self.lag is not None and self.in_flight >= self.LAG_PRESSURE and (lag_s := self.lag.sustained_s()) > self.max_lag_s:
            why = f"the service is overloaded (it runs {lag_s * 1000:.0f} ms behind, over {self.max_lag_s * 1000:.0f} ms)"
            await self._refuse(why, scope, receive, send)
            return
        late = None
        if self.pipeline is not None and scope["method"] not in self.READS:
            self.pipeline.wanted()
            late = self.pipeline.late()
        if late is not None and (refusal := self._pipeline_refusal(late)):
            await self._refuse(refusal, scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def _pipeline_refusal(self, late: Lateness) -> str | None:
        """Why a write is refused for the pipeline, or None: overloaded; or, between two
        measurements, past the room the last one left (`PipelineDelay.room`). Without the room,
        every write between a measurement that found room and the next one that found overload
        was accepted: at 500 writes a second and a measurement every 0.25 to 0.9 s, seconds of
        work for consumers applying 160 a second; the accepted waited 2.5 to 3.4 s at p99."""
        assert self.pipeline is not None
        if late.overloaded(self.max_delay_s):
            return (
                f"the services downstream are behind ({late.events} events, the oldest {late.delay_s:.1f} s old, "
                f"about {late.drain_s:.1f} s to apply them, over {self.max_delay_s:.1f} s): writes wait"
            )
        if late is not self._room_of:  # a new measurement: a new room
            self._room_of, self._room = late, self.pipeline.room(self.max_delay_s)
        if self._room is None:
            return None
        if self._room <= 0:
            return (
                f"the services downstream are behind ({late.events} events wait, applied at about {late.rate:.0f} a "
                f"second): no more writes fit in {self.max_delay_s:.1f} s until they catch up"
            )
        self._room -= 1
        return None

    async def _refuse(self, why: str, scope: Scope, receive: Receive, send: Send) -> None:
        metrics.REQUESTS_REFUSED.labels(self.service).inc()
        answer = problem(503, "Service unavailable", f"{why}; retry in {self.retry_after_s} second(s)")
        answer.headers["Retry-After"] = str(self.retry_after_s)
        await answer(scope, receive, send)

    def _exempt(self, scope: Scope) -> bool:
        if scope["path"] in self.EXEMPT:
            return True
        return any(name == b"accept" and b"text/event-stream" in value for name, value in scope.get("headers") or ())


class RequestTiming:
    """Observes request durations per route template (pure ASGI: BaseHTTPMiddleware costs a lot)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.REQUEST_DURATION.labels(self.service, scope["method"], route, str(status)).observe(
                time.perf_counter() - started
            )


def install_operations(
    app: FastAPI,
    service: str,
    max_body_bytes: int,
    max_in_flight: int = 0,
    *,
    readiness: Callable[[], Sequence[ReadinessCheck]],
    max_event_loop_lag_ms: float = 0,
    pipeline: PipelineDelay | None = None,
    max_pipeline_delay_ms: float = 0,
    upload_max_bytes: int | None = None,
    upload_paths: str | None = None,
) -> None:
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, upload_max_bytes=upload_max_bytes, upload_paths=upload_paths)
    app.add_middleware(TraceContext)
    # outside: a refusal costs little
    app.add_middleware(
        AdmissionControl,
        service=service,
        limit=max_in_flight,
        max_lag_ms=max_event_loop_lag_ms,
        pipeline=pipeline,
        max_pipeline_delay_ms=max_pipeline_delay_ms,
    )
    app.add_middleware(RequestTiming, service=service)

    @app.get("/healthz", tags=["operations"], summary="The process lives")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Database, Kafka and workers are usable",
        responses={503: {"description": "Not ready"}},
    )
    async def readyz() -> JSONResponse:
        reasons = [r for r in await asyncio.gather(*(check() for check in readiness())) if r]
        if reasons:
            return JSONResponse({"status": "unready", "service": service, "reasons": reasons}, status_code=503)
        return JSONResponse({"status": "ready", "service": service})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
