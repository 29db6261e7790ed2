"""The FastAPI app every service builds: its runtime in the lifespan, common errors and operations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.platform import tracing
from shared.platform.http import COMMON_ERRORS, install_error_handlers, install_operations
from shared.platform.logs import configure_logging
from shared.platform.runtime import ConsumerSpec, Runtime, Worker


def service_app(
    *,
    title: str,
    description: str,
    runtime: Runtime,
    routers: Sequence[APIRouter],
    consumers: Sequence[ConsumerSpec] = (),
    workers: Callable[[Runtime], Sequence[Worker]] = lambda _: (),
) -> FastAPI:
    settings = runtime.settings
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    tracing.enable_export(settings.service_name)  # only if OTEL_EXPORTER_OTLP_ENDPOINT is set

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start(consumers, workers)
        yield
        await runtime.stop()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime
    install_error_handlers(app)
    install_operations(app, settings.service_name, settings.max_body_bytes, settings.upload_max_bytes, settings.upload_paths)
    for router in routers:
        app.include_router(router, responses=COMMON_ERRORS)
    return app


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_runtime(request).sessions() as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
