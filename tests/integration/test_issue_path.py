"""The issue endpoint's own write path (bench row 1): the status change, its history entry and its
event's outbox row go in with one statement, not through the ORM. Checked here: the outbox row
so written wakes the relay (PostgreSQL's notification, no poll), its event is the one `add_event`
writes (headers, body, trace context) and matches the answer and the history, and concurrent
issues of one draft give one event and 409s."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.recommendations import repository
from services.recommendations.config import Settings
from services.recommendations.main import create_app
from services.recommendations.models import Outbox
from services.recommendations.seed import load_demo_data
from shared.contracts.envelope import Event
from shared.contracts.recommendations import RecommendationIssued
from shared.platform.db import make_engine, make_session_factory
from shared.platform.tracing import trace_id
from tests.support import Env, eventually, listening_backend, read_topic, running, watch_relays

pytestmark = pytest.mark.services
SEEDED = 3 + 11  # the demo data's seminar events and issued recommendations
TRACE = "0af7651916cd43dd8448eb211c80319c"
CLOUDEVENT_HEADERS = {"ce_specversion", "ce_id", "ce_type", "ce_source", "ce_subject", "ce_time", "content-type", "traceparent"}


async def test_an_issue_wakes_the_relay_and_its_event_matches_the_answer(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = env.settings(Settings, relay_poll_interval_s=600)  # only PostgreSQL's notification wakes the relay
    await load_demo_data(settings)
    relay = watch_relays(monkeypatch)
    app = create_app(settings)
    topic = env.topic("recommendations")
    engine = make_engine(settings.database_url, pool_size=1)
    sessions = make_session_factory(engine)
    try:
        async with running(app), await env.client(app, "lead_partner") as lead:
            seminar = (await lead.get("/seminars")).json()["items"][0]
            body = {"title": "Shared test beds", "text": "Open the test beds to SMEs.", "dimension": "processes"}
            draft = (await lead.post(f"/seminars/{seminar['id']}/recommendations", json=body)).json()
            await read_topic(env.kafka, topic, SEEDED)
            await eventually(lambda: listening_backend(sessions), what="the relay to listen")
            # woken once by its listener as it began to listen; that pass over, it waits (its poll: 10 minutes)
            await eventually(lambda: relay.settled(wakes=1), what="the relay's passes to settle")
            woken = relay.wakes
            answer = await lead.post(
                f"/recommendations/{draft['id']}/issue", headers={"traceparent": f"00-{TRACE}-b7ad6b7169203331-01"}
            )
            assert answer.status_code == 200, answer.text
            records = await read_topic(env.kafka, topic, SEEDED + 1, timeout=15)
            assert relay.wakes == woken + 1, "published on the issue's notification (a poll would take 10 minutes)"
            history = (await lead.get(f"/recommendations/{draft['id']}/history")).json()
    finally:
        await engine.dispose()

    [record] = [r for r in records if r.key == draft["id"].encode()]
    headers = {k: v.decode() for k, v in record.headers}
    assert set(headers) == CLOUDEVENT_HEADERS
    assert headers["ce_type"] == "eu.clusnet.recommendation.issued.v1" and headers["ce_subject"] == draft["id"]
    assert trace_id(headers["traceparent"]) == TRACE, "the event continues the request's trace"
    payload = Event.from_kafka(record.headers, record.value).decode(RecommendationIssued)
    sent = json.loads(record.value)["recommendation"]
    common = set(sent) & set(answer.json())
    assert len(common) > 10 and {n: sent[n] for n in common} == {n: answer.json()[n] for n in common}, "the state answered"
    assert payload.recommendation.seminar.id.hex == seminar["id"].replace("-", "")
    assert payload.recommendation.seminar.host_city == seminar["host_city"]
    assert payload.actor.role == "lead_partner"
    assert [h["action"] for h in history] == ["drafted", "issued"]
    assert history[-1]["snapshot"] == answer.json(), "the history entry holds the state answered"


async def test_concurrent_issues_of_one_draft_give_one_event(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight issues at once, and one whose draft is issued by another request between its read and
    its write (made certain by running that other request right after the read): one event."""
    settings = env.settings(Settings)
    await load_demo_data(settings)
    app = create_app(settings.model_copy(update={"run_workers": False}))  # the outbox keeps what was written
    async with running(app), await env.client(app, "lead_partner") as lead:
        seminar = (await lead.get("/seminars")).json()["items"][0]
        body = {"title": "One issue only", "text": "Issued once.", "dimension": "setting"}
        draft = (await lead.post(f"/seminars/{seminar['id']}/recommendations", json=body)).json()
        raced = (await lead.post(f"/seminars/{seminar['id']}/recommendations", json={**body, "title": "Raced"})).json()
        answers = await asyncio.gather(*(lead.post(f"/recommendations/{draft['id']}/issue") for _ in range(8)))
        read, overtaken = repository.read_with_seminar, []

        async def read_then_overtaken(connection: AsyncConnection, rec_id: uuid.UUID) -> Any:
            found = await read(connection, rec_id)
            if not overtaken:  # the first read only; the other request's own read is plain
                overtaken.append(None)
                overtaken[0] = await lead.post(f"/recommendations/{rec_id}/issue")
            return found

        monkeypatch.setattr(repository, "read_with_seminar", read_then_overtaken)
        late = await lead.post(f"/recommendations/{raced['id']}/issue")
        history = (await lead.get(f"/recommendations/{draft['id']}/history")).json()
        missing = await lead.post("/recommendations/00000000-0000-4000-8000-000000000000/issue")
    assert sorted(a.status_code for a in answers) == [200] + [409] * 7
    assert overtaken[0].status_code == 200 and late.status_code == 409, "the write saw the row changed since its read"
    refused = next(a for a in answers if a.status_code == 409)
    assert refused.headers["content-type"] == "application/problem+json" and "already issued" in refused.json()["detail"]
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert [h["action"] for h in history] == ["drafted", "issued"]
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with make_session_factory(engine)() as session:
            for rec_id in (draft["id"], raced["id"]):
                query = select(func.count()).select_from(Outbox).where(Outbox.key == rec_id)
                assert (await session.execute(query)).scalar() == 1
    finally:
        await engine.dispose()
