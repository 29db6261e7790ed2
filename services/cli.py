"""`clusnet`: the command line of the tracker (typer: typed options and help without hand parsing).

clusnet token create --role city_official --city leipzig   # prints the token as its last line
clusnet seed                                              # CLUSNET demo data, through the service code
clusnet serve evaluations                                 # one service's API (+ its workers)
clusnet user create --email a@b.example --role city_official --city leipzig   # a portal sign-in
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts.common import Language
from shared.platform import auth
from shared.platform.db import ensure_database, make_engine, make_session_factory
from shared.platform.migrate import upgrade
from shared.platform.runtime import AUTH_MIGRATIONS
from shared.platform.settings import ServiceSettings

app = typer.Typer(help="CLUSNET follow-up tracker", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens: create, list, revoke", no_args_is_help=True)
app.add_typer(token_app, name="token")
user_app = typer.Typer(help="People who sign in to the portal", no_args_is_help=True)
app.add_typer(user_app, name="user")


class Service(StrEnum):
    recommendations = "recommendations"
    evaluations = "evaluations"
    notifications = "notifications"
    portal = "portal"


# The services that publish or consume events (the portal only calls their APIs).
EVENT_SERVICES = (Service.recommendations, Service.evaluations, Service.notifications)
DEFAULT_PORTS = {Service.recommendations: 8001, Service.evaluations: 8002, Service.notifications: 8003, Service.portal: 8000}


T = TypeVar("T")


async def _with_auth_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in a session of the auth database (migrated first: the CLI may come before any service)."""
    url = ServiceSettings().auth_database_url
    await ensure_database(url)
    await asyncio.to_thread(upgrade, url, AUTH_MIGRATIONS)
    engine = make_engine(url, pool_size=1)
    try:
        async with make_session_factory(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()


@token_app.command("create")
def token_create(
    role: Annotated[auth.Role, typer.Option(help="What the token may do")],
    city: Annotated[str | None, typer.Option(help="The partner slug a city_official acts for")] = None,
    label: Annotated[str | None, typer.Option(help="Who or what holds it")] = None,
    expires_days: Annotated[int | None, typer.Option(min=1, help="Expiry in days (default: none)")] = None,
) -> None:
    """Create a token; only its hash is stored, so the printed last line is the only copy."""
    expires = timedelta(days=expires_days) if expires_days else None
    try:
        row, text = asyncio.run(_with_auth_session(lambda s: auth.create_token(s, role, city, label, expires)))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"created token {row.id} role={row.role.value}" + (f" city={row.city}" if row.city else ""), err=True)
    typer.echo(text)


@token_app.command("list")
def token_list() -> None:
    for row in asyncio.run(_with_auth_session(auth.list_tokens)):
        state = "revoked" if row.revoked_at else ("expires " + row.expires_at.isoformat() if row.expires_at else "active")
        typer.echo(f"{row.id}\t{row.role.value}\t{row.city or '-'}\t{row.label or '-'}\t{state}")


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    if not asyncio.run(_with_auth_session(lambda s: auth.revoke_token(s, token_id))):
        raise typer.BadParameter(f"no token {token_id}")
    typer.echo(f"revoked {token_id}")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="The sign-in email (unique)")],
    role: Annotated[auth.Role, typer.Option(help="What the person may do")],
    name: Annotated[str | None, typer.Option(help="Shown in the portal (default: the email's local part)")] = None,
    city: Annotated[str | None, typer.Option(help="The partner slug a city_official acts for")] = None,
    language: Annotated[Language, typer.Option(help="The portal's and emails' language")] = Language.en,
    password: Annotated[str | None, typer.Option(help="Default: a generated one, printed as the last line")] = None,
) -> None:
    """Create a person who signs in to the portal; only an Argon2 hash of the password is stored."""
    from shared.platform import people

    async def create(session: AsyncSession) -> tuple[people.Person, str]:
        return await people.create_person(
            session,
            email=email,
            name=name or email.split("@")[0],
            role=role,
            city=city,
            language=language.value,
            password=password,
        )

    try:
        person, secret = asyncio.run(_with_auth_session(create))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"created {person.email} role={person.role.value}" + (f" city={person.city}" if person.city else ""), err=True)
    if password is None:
        typer.echo(secret)


@app.command()
def serve(
    service: Service,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Default: 8001, 8002, 8003; the portal 8000")] = None,
) -> None:
    """Run one service's HTTP API (and, unless RUN_WORKERS=false, its background workers)."""
    import importlib

    import uvicorn

    from shared.platform.process import tune_garbage_collector

    service_app = importlib.import_module(f"services.{service.value}.main").create_app()
    tune_garbage_collector()  # after the application is built: see the function
    uvicorn.run(service_app, host=host, port=port or DEFAULT_PORTS[service], log_config=None, access_log=False)


@app.command()
def worker(
    service: Service,
    port: Annotated[
        int | None, typer.Option(help="Serve /healthz, /readyz and /metrics (lag, backlog) on 127.0.0.1:PORT; default: none")
    ] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    nice: Annotated[
        int,
        typer.Option(
            min=0,
            max=19,
            help="Lower this process's CPU priority by NICE: on a host shared with the APIs, they keep answering "
            "(and refusing at once) while the workers drain the backlog",
        ),
    ] = 0,
) -> None:
    """Run one service's background workers (relay, consumers, schedulers) without its HTTP API."""
    import importlib
    import os
    import signal

    import uvloop

    from shared.platform.logs import configure_logging
    from shared.platform.process import tune_garbage_collector

    if nice:
        os.nice(nice)
    module = importlib.import_module(f"services.{service.value}.main")
    # A worker takes no requests, so it has nothing to admit: no pipeline probe (shared/platform/pipeline.py).
    settings = importlib.import_module(f"services.{service.value}.config").Settings(run_workers=True, max_pipeline_delay_ms=0)
    configure_logging(settings.service_name, settings.log_level, settings.log_json)

    async def main() -> None:
        fastapi_app = module.create_app(settings)
        tune_garbage_collector(worker=True)  # after the application is built: see the function
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        async with fastapi_app.router.lifespan_context(fastapi_app):
            if port is None:
                await stop.wait()
                return
            await _serve_operations(fastapi_app, settings.service_name, host, port, stop)

    uvloop.run(main())  # the event loop `clusnet serve` gets from uvicorn: socket I/O in C, not in Python


async def _serve_operations(service_app: Any, name: str, host: str, port: int, stop: asyncio.Event) -> None:
    """A worker's own operational endpoints (probes and metrics; no API route), until `stop`."""
    import uvicorn
    from fastapi import FastAPI

    from shared.platform.http import install_operations

    ops = FastAPI(title=f"{name} worker", docs_url=None, redoc_url=None, openapi_url=None)
    runtime = service_app.state.runtime  # set by service_app(): the worker's checks (database, Kafka, consumer)
    install_operations(ops, name, max_body_bytes=1024, readiness=lambda: runtime.checks)
    server = uvicorn.Server(uvicorn.Config(ops, host=host, port=port, log_config=None, access_log=False, lifespan="off"))
    serving = asyncio.ensure_future(server.serve())  # uvicorn takes SIGTERM/SIGINT while it serves, then re-raises it
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await serving
    stopping.cancel()


@app.command()
def seed() -> None:
    """Load the CLUSNET partners, clusters, the three 2009 seminars and their recommendations
    (run with the recommendations service's settings; adds only what is missing)."""
    from services.recommendations.seed import load_demo_data

    counts = asyncio.run(load_demo_data())
    typer.echo(", ".join(f"{n} {what}" for what, n in counts.items()))


@app.command("seed-stakeholders")
def seed_stakeholders() -> None:
    """Load the demo stakeholders and their subscriptions (run with the notifications service's
    settings, before `clusnet seed`, so the seminars' events find them)."""
    from services.notifications.seed import load_demo_stakeholders

    counts = asyncio.run(load_demo_stakeholders())
    typer.echo(", ".join(f"{n} {what}" for what, n in counts.items()))


class Stream(StrEnum):
    recommendations = "recommendations"
    evaluations = "evaluations"
    notifications = "notifications"


@app.command()
def replay(
    topic: Annotated[Stream, typer.Option(help="The stream (topic without its prefix)")],
    from_: Annotated[str, typer.Option("--from", help="'beginning', an offset, or an ISO 8601 time with its zone")],
    to: Annotated[str, typer.Option(help="A file (JSON lines) or an http(s) URL (each event POSTed)")],
    secret: Annotated[str | None, typer.Option(help="Sign each POST like our webhooks (whsec_…)")] = None,
    type_: Annotated[list[str] | None, typer.Option("--type", help="Only these event types")] = None,
) -> None:
    """Replay a topic's events for an integration that lost its data (read from Kafka, up to the
    topic's end when the replay began). Uses the notifications service's settings."""
    from services.notifications.config import Settings as NotificationsSettings
    from services.notifications.replay import parse_start
    from services.notifications.replay import replay as run_replay

    try:
        start = parse_start(from_)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    count = asyncio.run(run_replay(NotificationsSettings(), topic.value, start, to, secret, type_))
    typer.echo(f"replayed {count} event(s) of {topic.value} to {to}")


ASYNCAPI_DIR = Path(__file__).resolve().parent.parent / "schemas" / "asyncapi"


def asyncapi_documents() -> dict[str, dict[str, Any]]:
    """Each service's AsyncAPI document, exactly as it serves it at GET /asyncapi.json (no I/O:
    the app is asked over ASGI without its lifespan), for the default topic prefix."""
    import importlib

    import httpx

    async def fetch(service: Service) -> dict[str, Any]:
        main = importlib.import_module(f"services.{service.value}.main")
        settings = importlib.import_module(f"services.{service.value}.config").Settings(topic_prefix="clusnet")
        transport = httpx.ASGITransport(app=main.create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://asyncapi") as client:
            document: dict[str, Any] = (await client.get("/asyncapi.json")).raise_for_status().json()
            return document

    return {service.value: asyncio.run(fetch(service)) for service in EVENT_SERVICES}


@app.command()
def schemas(check: Annotated[bool, typer.Option(help="Fail if the checked-in schemas are stale")] = False) -> None:
    """Write every event's JSON Schema into schemas/events/ and each service's AsyncAPI document
    into schemas/asyncapi/."""
    from shared.platform.schemas import write_schemas

    changed = write_schemas(dry_run=check)
    for service, document in asyncapi_documents().items():
        path = ASYNCAPI_DIR / f"{service}.json"
        text = json.dumps(document, indent=2, sort_keys=True) + "\n"
        if not path.exists() or path.read_text() != text:
            changed.append(path.name)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    if check and changed:
        typer.echo("stale schemas: " + ", ".join(changed), err=True)
        raise typer.Exit(1)
    typer.echo(f"{len(changed)} schema file(s) {'would change' if check else 'written'}")


if __name__ == "__main__":
    app()
