"""Wires the notifications service: consumer (deliveries), dispatcher, digests, outbox relay, API."""

from pathlib import Path

from fastapi import FastAPI

from services.notifications import api, handlers
from services.notifications.config import Settings
from services.notifications.digests import digest_worker
from services.notifications.dispatcher import Dispatcher
from services.notifications.models import Inbox, Outbox
from shared.contracts import topics
from shared.platform.app import service_app
from shared.platform.runtime import Runtime, Worker

MIGRATIONS = Path(__file__).with_name("migrations")


def build_runtime(settings: Settings) -> Runtime:
    return Runtime(settings=settings, outbox_model=Outbox, inbox_model=Inbox, migrations=MIGRATIONS, stream=topics.NOTIFICATIONS)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    def workers(rt: Runtime) -> list[Worker]:
        dispatcher = Dispatcher(settings, rt.sessions, rt)
        rt.on_wake(dispatcher.wake)  # a new delivery goes out without waiting for the next poll
        rt.limit_intake(dispatcher.room)  # and the consumer does not run ahead of the dispatcher
        return [dispatcher.run, digest_worker(rt.sessions, settings)]

    return service_app(
        title="CLUSNET notifications",
        description="Stakeholders, their subscriptions, and the emails, webhooks and digests that tell them what happened.",
        runtime=build_runtime(settings),
        api_routers=[api.router],
        event_router=handlers.router,
        workers=workers,
    )
