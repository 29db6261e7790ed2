"""Wires the portal: its database and the auth database, one httpx client, catalogues, pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.portal import admin, api, api_network, api_sheets, dashboard, i18n, live, seminars, verification
from services.portal.clients import ServiceRefused, Services
from services.portal.config import Settings
from services.portal.web import (
    SESSION_COOKIE,
    CsrfRefused,
    NotSignedIn,
    PortalState,
    get_state,
    get_state_of,
    redirect,
    render,
    visitor,
)
from shared.platform import health, tracing
from shared.platform.db import make_engine, make_session_factory
from shared.platform.http import install_operations
from shared.platform.logs import configure_logging
from shared.platform.runtime import AUTH_MIGRATIONS, prepare_database

MIGRATIONS = Path(__file__).with_name("migrations")
STATIC = Path(__file__).with_name("static")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Process-wide settings belong to the process that runs the app (as in service_app)
        configure_logging(settings.service_name, settings.log_level, settings.log_json)
        tracing.enable_export(settings.service_name)
        for url, scripts in ((settings.database_url, MIGRATIONS), (settings.auth_database_url, AUTH_MIGRATIONS)):
            await prepare_database(url, scripts)  # waits while PostgreSQL is away at start, as the services do
        engine = make_engine(settings.database_url, pool_size=5)
        auth_engine = make_engine(settings.auth_database_url, pool_size=5)
        async with httpx.AsyncClient(timeout=settings.service_timeout_s) as http:
            state = PortalState(
                settings=settings,
                engine=engine,
                sessions=make_session_factory(engine),
                auth_engine=auth_engine,
                auth_sessions=make_session_factory(auth_engine),
                http=http,
                services=Services(http, settings),
                pages=i18n.Pages(),
                checks=[health.database_check(engine)],
            )
            app.state.portal = state  # read back by web.get_state_of only (routes, handlers, /readyz)
            stop = asyncio.Event()
            reader = asyncio.create_task(
                live.read_followup_events(settings.kafka_bootstrap_servers, settings.topic_prefix, state.live, stop)
            )
            try:
                yield
            finally:
                stop.set()
                await asyncio.wait_for(reader, timeout=10)
        await engine.dispose()
        await auth_engine.dispose()

    app = FastAPI(title="CLUSNET portal", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    # No event-loop-lag admission here (the services' APIs have it): the portal serves people a
    # page at a time, and a person on a slow machine would rather wait than be turned away.
    install_operations(
        app,
        settings.service_name,
        settings.max_body_bytes,
        settings.max_in_flight_requests,
        readiness=lambda: get_state_of(app).checks,
        upload_max_bytes=settings.upload_max_bytes,
        upload_paths=settings.upload_paths,
    )
    install_error_pages(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router)
    app.include_router(api_network.router)
    app.include_router(api_sheets.router)
    app.include_router(dashboard.router)
    app.include_router(verification.router)
    app.include_router(seminars.router)
    app.include_router(admin.router)
    return app


async def _error_page(request: Request, status: int, message: str | None) -> Response:
    state = get_state(request)  # exception handlers take no dependencies: the one reader, called explicitly
    async with state.sessions() as db:
        who = await visitor(request, state, db)
    return render(request, who, "error.html", status_code=status, status=status, message=message)


ERROR_REASONS = frozenset({admin.ADMIN_ONLY})  # HTTPException details error.html words


def install_error_pages(app: FastAPI) -> None:
    """Errors as pages in the person's language; a service's refusal keeps its status."""

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _: NotSignedIn) -> Response:
        state = get_state(request)
        async with state.sessions() as db:
            who = await visitor(request, state, db)
        answer = redirect(request, who, "/login?next=" + quote(request.url.path))
        answer.delete_cookie(SESSION_COOKIE)
        return answer

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _: CsrfRefused) -> Response:
        return await _error_page(request, 403, "csrf")

    @app.exception_handler(ServiceRefused)
    async def service_refused(request: Request, exc: ServiceRefused) -> Response:
        if exc.status == 401:  # the session's token was revoked or expired: sign in again
            return await not_signed_in(request, NotSignedIn())
        status = exc.status if 400 <= exc.status < 500 else 502
        return await _error_page(request, status, exc.detail if status not in (403, 404) else None)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, _: RequestValidationError) -> Response:
        return await _error_page(request, 404, None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        reason = exc.detail if exc.detail in ERROR_REASONS else None  # a reason the page words, never raw text
        return await _error_page(request, exc.status_code, reason)

    @app.exception_handler(httpx.HTTPError)
    async def unreachable(request: Request, _: httpx.HTTPError) -> Response:
        return await _error_page(request, 502, "unreachable")
