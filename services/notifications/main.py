"""Wires the notifications service: consumer (deliveries), dispatcher, digests, outbox relay, API."""

from pathlib import Path

from fastapi import FastAPI

from services.notifications import api
from services.notifications.config import Settings
from services.notifications.digests import digest_worker
from services.notifications.dispatcher import Dispatcher
from services.notifications.handlers import create_deliveries
from services.notifications.models import Inbox, Outbox
from shared.contracts import topics
from shared.platform.app import service_app
from shared.platform.runtime import ConsumerSpec, Runtime

MIGRATIONS = Path(__file__).with_name("migrations")
CONSUMED = [  # every domain event (not its own notification.* events)
    "seminar.scheduled",
    "seminar.report_published",
    "recommendation.issued",
    "recommendation.revised",
    "recommendation.withdrawn",
    "followup.opened",
    "followup.response_recorded",
    "followup.status_changed",
    "followup.evidence_added",
    "followup.verified",
    "followup.due_soon",
    "followup.overdue",
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(
        settings=settings,
        outbox_model=Outbox,
        inbox_model=Inbox,
        migrations=MIGRATIONS,
        topic=settings.topic(topics.NOTIFICATIONS),
    )
    consumed = (settings.topic(topics.RECOMMENDATIONS), settings.topic(topics.EVALUATIONS))

    def workers(rt: Runtime):  # type: ignore[no-untyped-def]
        dispatcher = Dispatcher(settings, rt.sessions, rt)
        rt.on_commit(dispatcher.wake)  # a new delivery goes out without waiting for the next poll
        return [dispatcher.run, digest_worker(rt.sessions, settings)]

    return service_app(
        title="CLUSNET notifications",
        description="Stakeholders, their subscriptions, and the emails, webhooks and digests that tell them what happened.",
        runtime=runtime,
        routers=[api.router],
        consumers=[ConsumerSpec(topics=consumed, handlers=dict.fromkeys(CONSUMED, create_deliveries))],
        workers=workers,
    )
