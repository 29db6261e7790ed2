"""Independent deployment: a producer that starts emitting a new event type, or a new version of an
existing one, poisons no consumer. Each service skips what it does not handle, unread (counted as
"skipped"), dead-letters nothing, and its consumer group's lag returns to zero."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.evaluations.config import Settings as EvaluationsSettings
from services.evaluations.main import create_app as evaluations_app
from services.notifications.config import Settings as NotificationsSettings
from services.notifications.main import create_app as notifications_app
from tests.factories import issued
from tests.support import Env, eventually, group_lag, message_count, produce, running

pytestmark = pytest.mark.services


def foreign(event_type: str, subject: str, data: dict[str, Any]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """A CloudEvent of a type no consumer here knows, as another team's producer would send it."""
    headers = {
        "ce_specversion": "1.0",
        "ce_id": str(uuid.uuid4()),
        "ce_type": event_type,
        "ce_source": "/clusnet/a-newer-service",
        "ce_subject": subject,
        "ce_time": datetime.now(UTC).isoformat(),
        "content-type": "application/json",
    }
    return subject.encode(), json.dumps(data).encode(), [(k, v.encode()) for k, v in headers.items()]


async def test_unknown_types_and_versions_are_skipped_without_dead_letters(env: Env) -> None:
    evaluations = evaluations_app(env.settings(EvaluationsSettings))
    notifications = notifications_app(env.settings(NotificationsSettings))
    recommendations_topic, evaluations_topic = env.topic("recommendations"), env.topic("evaluations")
    rec_id = str(uuid.uuid4())
    unknown = [
        foreign("eu.clusnet.recommendation.archived.v1", rec_id, {"anything": ["a", "new", "shape"]}),
        foreign("eu.clusnet.recommendation.issued.v2", rec_id, {"recommendation": {"id": rec_id, "renamed": True}}),
    ]
    sentinel = issued(uuid.UUID(rec_id))  # a known event after the unknown ones, on the same partition
    async with running(evaluations), running(notifications), await env.client(evaluations, "lead_partner") as lead:
        await produce(env.kafka, recommendations_topic, [*unknown, sentinel.to_kafka()])
        await produce(env.kafka, evaluations_topic, [foreign("eu.clusnet.followup.commented.v1", rec_id, {"text": "new"})])

        async def opened() -> list[Any]:
            return (await lead.get("/follow-ups", params={"city": "leipzig"})).json()["items"]

        await eventually(opened, what="the known event behind the unknown ones applied")
        eval_consumer = evaluations.state.runtime.consumers[0]
        notif_consumer = notifications.state.runtime.consumers[0]
        # notifications reads both topics: 2 + 1 unknown; evaluations reads the recommendations topic only
        await eventually(lambda: _at_least(notif_consumer.progress.skipped, 3), what="notifications skipped 3")
        assert eval_consumer.progress.skipped == 2 and eval_consumer.progress.dead_lettered == 0
        assert notif_consumer.progress.dead_lettered == 0
        for service in ("evaluations", "notifications"):
            topics = [recommendations_topic] + ([evaluations_topic] if service == "notifications" else [])

            async def drained(group: str = f"{env.prefix}-{service}", topics: list[str] = topics) -> bool:
                return await group_lag(env.kafka, group, topics) == 0

            await eventually(drained, what=f"{service} lag back to zero")
        for topic in (recommendations_topic, evaluations_topic):
            assert await message_count(env.kafka, f"{topic}.dlq") == 0, f"{topic}.dlq must stay empty"
        metrics = (await lead.get("/metrics")).text
        assert 'outcome="skipped",service="evaluations",type="eu.clusnet.recommendation.issued.v2"' in metrics


async def _at_least(value: int, floor: int) -> bool:
    return value >= floor
