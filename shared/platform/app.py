"""The FastAPI app every service builds: its runtime in the lifespan, common errors and operations.
Its dependencies (runtime, session, caller) are in `deps.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from shared.platform import asyncapi, tracing
from shared.platform.http import COMMON_ERRORS, install_error_handlers, install_operations
from shared.platform.logs import configure_logging
from shared.platform.routing import Router
from shared.platform.runtime import Runtime, Worker


def service_app(
    *,
    title: str,
    description: str,
    runtime: Runtime,
    api_routers: Sequence[APIRouter],
    event_router: Router[Any] | None = None,
    workers: Callable[[Runtime], Sequence[Worker]] = lambda _: (),
) -> FastAPI:
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Process-wide settings belong to the process that runs the app, not to whoever builds
        # it (the seed and the CLI build apps inside `make run`'s own process).
        configure_logging(settings.service_name, settings.log_level, settings.log_json)
        tracing.enable_export(settings.service_name)  # only if OTEL_EXPORTER_OTLP_ENDPOINT is set
        await runtime.start(event_router, workers)
        yield
        await runtime.stop()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime
    install_error_handlers(app)
    install_operations(
        app,
        settings.service_name,
        settings.max_body_bytes,
        settings.max_in_flight_requests,
        readiness=lambda: runtime.checks,  # made by runtime.start(): database, Kafka, consumer
        max_event_loop_lag_ms=settings.max_event_loop_lag_ms,
        pipeline=runtime.pipeline,
        max_pipeline_delay_ms=settings.max_pipeline_delay_ms,
        upload_max_bytes=settings.upload_max_bytes,
        upload_paths=settings.upload_paths,
    )
    for router in api_routers:
        app.include_router(router, responses=COMMON_ERRORS)
    events = asyncapi.document(
        service=settings.service_name,
        description=description,
        sends=asyncapi.payloads_of(runtime.stream) if runtime.stream else [],
        receives=event_router.payloads if event_router else [],
        prefix=settings.topic_prefix,
    )

    @app.get("/asyncapi.json", tags=["operations"], summary="AsyncAPI 3.0: the events this service sends and receives")
    async def asyncapi_document() -> dict[str, Any]:
        return events

    return app
