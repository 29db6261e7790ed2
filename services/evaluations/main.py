"""Wires the evaluations service: outbox relay, recommendation consumer, deadline scheduler, API."""

from pathlib import Path

from fastapi import FastAPI

from services.evaluations import api, handlers
from services.evaluations.config import Settings
from services.evaluations.deadlines import deadline_worker
from services.evaluations.models import Inbox, Outbox
from shared.contracts import topics
from shared.platform.app import service_app
from shared.platform.runtime import Runtime

MIGRATIONS = Path(__file__).with_name("migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings=settings, outbox_model=Outbox, inbox_model=Inbox, migrations=MIGRATIONS, stream=topics.EVALUATIONS)
    return service_app(
        title="CLUSNET evaluations",
        description="Each city's follow-up of the recommendations it received, and the lead partner's view of progress.",
        runtime=runtime,
        api_routers=[api.router],
        event_router=handlers.router,
        workers=lambda rt: [deadline_worker(rt.sessions, rt, settings.due_soon_days, settings.deadline_check_interval_s)],
    )
