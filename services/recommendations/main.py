"""Wires the recommendations service: its runtime (outbox relay) and its HTTP API."""

from pathlib import Path

from fastapi import FastAPI

from services.recommendations import api, imports
from services.recommendations.config import Settings
from services.recommendations.models import ImportJob, Outbox
from shared.contracts import topics
from shared.platform.app import service_app
from shared.platform.jobs import JobRunner
from shared.platform.runtime import Runtime, Worker

MIGRATIONS = Path(__file__).with_name("migrations")


def build_runtime(settings: Settings) -> Runtime:
    return Runtime(settings=settings, outbox_model=Outbox, migrations=MIGRATIONS, stream=topics.RECOMMENDATIONS)


def workers(runtime: Runtime) -> list[Worker]:
    """The job runner of large spreadsheet imports, woken after a commit of this process that queued one."""
    runner = JobRunner(runtime.sessions, ImportJob, {imports.IMPORT_JOB: imports.import_job_handler(runtime.sessions)})
    runtime.on_wake(runner.wake)  # asked by the unit of work that queued a job (imports.queue_import)
    return [runner.run]


def create_app(settings: Settings | None = None) -> FastAPI:
    return service_app(
        title="CLUSNET recommendations",
        description="Seminars and the recommendations they issue to CLUSNET cities; every change is an event.",
        runtime=build_runtime(settings or Settings()),
        api_routers=[api.router],
        workers=workers,
    )
