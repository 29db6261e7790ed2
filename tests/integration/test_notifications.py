"""Notifications on real Kafka, PostgreSQL, SMTP (aiosmtpd) and an HTTP receiver, all on loopback."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.notifications.config import Settings
from services.notifications.digests import send_due_digests
from services.notifications.dispatcher import Dispatcher
from services.notifications.main import create_app
from services.notifications.rules import verify_signature
from shared.contracts.recommendations import ClusterLinkActivated
from tests.factories import issued, link_event
from tests.receivers import smtp_server, webhook_receiver
from tests.support import Env, eventually, group_lag, produce, read_topic, running

pytestmark = pytest.mark.services


def settings_for(env: Env, smtp_port: int, **kw: Any) -> Settings:
    return env.settings(Settings, smtp_port=smtp_port, retry_base_s=0.3, dispatch_interval_s=0.1, **kw)


async def stakeholder(admin: httpx.AsyncClient, **kw: Any) -> dict[str, Any]:
    body = {"name": "Anne Martin", "email": "anne.martin@leipzig.example", "city": "leipzig", "language": "fr", **kw}
    answer = await admin.post("/stakeholders", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def subscribe(admin: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    answer = await admin.post("/subscriptions", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def deliveries(admin: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    return (await admin.get("/deliveries", params=params)).json()["items"]


async def test_issued_recommendation_reaches_inbox_and_webhook_once(env: Env) -> None:
    async with smtp_server() as (inbox, smtp_port), webhook_receiver() as receiver:
        app = create_app(settings_for(env, smtp_port))
        async with running(app), await env.client(app, "admin") as admin:
            person = await stakeholder(admin)
            await subscribe(
                admin, stakeholder_id=person["id"], channel="email", cities=["leipzig"], event_types=["recommendation.issued"]
            )
            hook = await subscribe(admin, stakeholder_id=person["id"], channel="webhook", url=receiver.url)
            assert hook["secret"].startswith("whsec_")
            assert "secret" not in (await admin.get(f"/subscriptions/{hook['id']}")).json()
            await subscribe(admin, stakeholder_id=person["id"], channel="email", cities=["lyon"])  # must not match
            event = issued(city="leipzig", title="Involve private industry")
            await produce(env.kafka, env.topic("recommendations"), [event.to_kafka(), event.to_kafka()])  # delivered twice
            await eventually(lambda: _delivered(admin, 2), what="two deliveries")
            await eventually(
                lambda: _count(lambda: len(inbox.messages) >= 1 and len(receiver.requests) >= 1), what="mail and webhook"
            )
            await read_topic(env.kafka, env.topic("notifications"), 2)  # notification.delivered x2, and nothing more
            assert len(inbox.messages) == 1 and len(receiver.requests) == 1

        mail = inbox.messages[0]
        assert mail["To"] == "anne.martin@leipzig.example"
        assert mail["Subject"].strip() == "[CLUSNET] Nouvelle recommandation pour Leipzig : Involve private industry"
        text = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()
        assert "Bonjour Anne Martin" in text and "<h2>Involve private industry</h2>" in html
        headers, body = receiver.requests[0]
        assert headers["content-type"] == "application/cloudevents+json"  # structured mode, as the binding says
        assert verify_signature(hook["secret"], headers, body)
        assert not verify_signature("whsec_" + "A" * 32, headers, body)
        cloud_event = json.loads(body)
        assert cloud_event["id"] == str(event.id) and cloud_event["type"] == "eu.clusnet.recommendation.issued.v1"


async def _delivered(admin: httpx.AsyncClient, n: int) -> bool:
    return len(await deliveries(admin, status="delivered")) == n


async def _count(check: Any) -> bool:
    return bool(check())


async def _count_async(items: Any, n: int) -> bool:
    return len(await items) == n


async def test_failing_receiver_gets_the_event_once_after_backoff(env: Env) -> None:
    async with smtp_server() as (_, smtp_port), webhook_receiver() as receiver:
        receiver.script = [(500, {}), (503, {"Retry-After": "1"}), (429, {})]
        app = create_app(settings_for(env, smtp_port))
        async with running(app), await env.client(app, "admin") as admin:
            person = await stakeholder(admin)
            await subscribe(admin, stakeholder_id=person["id"], channel="webhook", url=receiver.url)
            await produce(env.kafka, env.topic("recommendations"), [issued().to_kafka()])
            [done] = await eventually(lambda: deliveries(admin, status="delivered"), timeout=30, what="delivery after retries")
            detail = (await admin.get(f"/deliveries/{done['id']}")).json()
        assert detail["attempts"] == 4 and [a["status_code"] for a in detail["attempt_log"]] == [500, 503, 429, 200]
        times = [datetime.fromisoformat(a["at"]) for a in detail["attempt_log"]]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert gaps[0] >= 0.3 * 0.8 and gaps[1] >= 1.0, gaps  # backoff, and Retry-After honoured
        assert len({h["webhook-id"] for h, _ in receiver.requests}) == 1 and len(receiver.requests) == 4


async def test_receiver_down_keeps_deliveries_pending_across_restart(env: Env) -> None:
    async with smtp_server() as (_, smtp_port):
        settings = settings_for(env, smtp_port)
        async with webhook_receiver() as receiver:
            port = receiver.port
        down_url = f"http://127.0.0.1:{port}/hook"
        app = create_app(settings)
        async with running(app), await env.client(app, "admin") as admin:
            person = await stakeholder(admin)
            await subscribe(admin, stakeholder_id=person["id"], channel="webhook", url=down_url)
            await produce(env.kafka, env.topic("recommendations"), [issued().to_kafka()])
            [pending] = await eventually(lambda: _with_attempts(admin), what="a failed attempt")
            assert pending["status"] == "pending" and "ConnectError" in pending["last_error"]
        # the service is stopped; the receiver comes up; a new instance finds the pending delivery in the database
        async with webhook_receiver(port) as receiver:
            app = create_app(settings)
            async with running(app), await env.client(app, "admin") as admin:
                [done] = await eventually(
                    lambda: deliveries(admin, status="delivered"), timeout=30, what="delivery after restart"
                )
                assert done["id"] == pending["id"]
            assert len(receiver.requests) == 1


async def test_a_send_left_to_itself_when_the_service_stops_is_sent_again_after_restart(env: Env) -> None:
    """A receiver that hangs, a service stopped while its send waits: the delivery is not lost. Its
    next attempt was set past the webhook timeout when the send was left to itself, so the next
    instance sends it then, with the same webhook-id."""
    async with smtp_server() as (_, smtp_port), webhook_receiver() as receiver:
        receiver.gate = asyncio.Event()
        settings = settings_for(env, smtp_port, dispatch_wait_s=0.2, webhook_timeout_s=1.0)
        try:
            app = create_app(settings)
            async with running(app), await env.client(app, "admin") as admin:
                person = await stakeholder(admin)
                await subscribe(admin, stakeholder_id=person["id"], channel="webhook", url=receiver.url)
                await produce(env.kafka, env.topic("recommendations"), [issued().to_kafka()])
                await eventually(lambda: _count(lambda: receiver.requests), what="the send that hangs")
                [waiting] = await deliveries(admin)
                assert waiting["status"] == "pending" and waiting["attempts"] == 0
        finally:
            receiver.gate.set()  # the stopped instance's send was cancelled; the receiver answers from now on
        app = create_app(settings)
        async with running(app), await env.client(app, "admin") as admin:
            [done] = await eventually(lambda: deliveries(admin, status="delivered"), timeout=30, what="delivery after restart")
            assert done["id"] == waiting["id"]
        first, again = (headers["webhook-id"] for headers, _ in receiver.requests)
        assert first == again == f"msg_{uuid.UUID(done['id']).hex}"  # the repeat can be dropped by the receiver


async def _with_attempts(admin: httpx.AsyncClient) -> list[dict[str, Any]]:
    return [d for d in await deliveries(admin) if d["attempts"] >= 1]


async def test_gone_endpoint_is_disabled_and_dead_delivery_can_be_retried(env: Env) -> None:
    async with smtp_server() as (_, smtp_port), webhook_receiver() as receiver:
        receiver.script = [(410, {})]
        app = create_app(settings_for(env, smtp_port))
        async with running(app), await env.client(app, "admin") as admin:
            person = await stakeholder(admin)
            hook = await subscribe(admin, stakeholder_id=person["id"], channel="webhook", url=receiver.url)
            await produce(env.kafka, env.topic("recommendations"), [issued().to_kafka()])
            [dead] = await eventually(lambda: deliveries(admin, status="dead"), what="a dead delivery")
            sub = (await admin.get(f"/subscriptions/{hook['id']}")).json()
            assert not sub["active"] and "410" in sub["disabled_reason"]
            refused = await admin.post(f"/deliveries/{dead['id']}/retry")
            assert refused.status_code == 409 and "disabled" in refused.json()["detail"]
            await admin.post(f"/subscriptions/{hook['id']}/enable")
            assert (await admin.post(f"/deliveries/{dead['id']}/retry")).status_code == 200
            await eventually(lambda: deliveries(admin, status="delivered"), what="the retried delivery")
            failed = await read_topic(env.kafka, env.topic("notifications"), 2)
            assert [dict(r.headers)["ce_type"] for r in failed] == [
                b"eu.clusnet.notification.failed.v1",
                b"eu.clusnet.notification.delivered.v1",
            ]


async def test_digest_groups_a_days_events_into_one_email(env: Env) -> None:
    async with smtp_server() as (inbox, smtp_port):
        settings = settings_for(env, smtp_port, digest_interval_s=3600)
        app = create_app(settings)
        async with running(app), await env.client(app, "admin") as admin:
            person = await stakeholder(admin, language="en", timezone="Asia/Tokyo", digest_hour=9)
            await subscribe(admin, stakeholder_id=person["id"], channel="email", mode="digest")
            events = [issued(title=f"Recommendation {i}") for i in range(3)]
            await produce(env.kafka, env.topic("recommendations"), [e.to_kafka() for e in events])
            await eventually(lambda: _n(admin, "digest_pending", 3), what="three digest items")
            sessions = app.state.runtime.sessions
            early = datetime(2031, 3, 3, 23, 30, tzinfo=UTC)  # 08:30 in Tokyo: not yet
            assert await send_due_digests(sessions, settings, early) == 0
            at_nine = datetime(2031, 3, 4, 0, 5, tzinfo=UTC)  # 09:05 in Tokyo
            assert await send_due_digests(sessions, settings, at_nine) == 1
            assert await send_due_digests(sessions, settings, at_nine) == 0  # once a day
            assert await _n(admin, "delivered", 3)
        assert len(inbox.messages) == 1
        assert inbox.messages[0]["Subject"].strip() == "[CLUSNET] Your daily digest: 3 updates"
        assert all(f"Recommendation {i}" in inbox.messages[0].get_body(("plain",)).get_content() for i in range(3))


async def _n(admin: httpx.AsyncClient, status: str, n: int) -> bool:
    return len(await deliveries(admin, status=status)) == n


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        ("/subscriptions", {"channel": "email", "event_types": ["recommendation.exploded"]}, "unknown event type"),
        ("/subscriptions", {"channel": "webhook", "url": "ftp://example.org/hook"}, "url"),
        ("/subscriptions", {"channel": "webhook", "url": "not a url"}, "url"),
        ("/subscriptions", {"channel": "webhook"}, "needs a `url`"),
        ("/stakeholders", {"name": "X", "email": "not-an-email"}, "email"),
        ("/stakeholders", {"name": "X", "email": "x@example.org", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ],
)
async def test_bad_input_is_a_clear_problem(env: Env, path: str, body: dict[str, Any], detail: str) -> None:
    app = create_app(env.settings(Settings))
    async with running(app), await env.client(app, "admin") as admin:
        person = await stakeholder(admin)
        answer = await admin.post(path, json={"stakeholder_id": person["id"], **body})
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json" and detail in answer.json()["detail"]
        assert (await admin.get("/subscriptions")).json()["items"] == []


async def test_a_link_event_reaches_the_subscribers_of_its_cities_and_clusters(env: Env) -> None:
    async with smtp_server() as (inbox, smtp_port):
        app = create_app(settings_for(env, smtp_port))
        async with running(app), await env.client(app, "admin") as admin:
            leipzig = await stakeholder(admin)  # French-speaking, in Leipzig
            lyon = await stakeholder(admin, name="Luc", email="luc@lyon.example", city="lyon", language="en")
            await subscribe(admin, stakeholder_id=leipzig["id"], channel="email", cities=["leipzig"])
            await subscribe(admin, stakeholder_id=lyon["id"], channel="email", cities=["lyon"])  # must not match
            media = await subscribe(admin, stakeholder_id=lyon["id"], channel="email", clusters=["mediacityuk"])
            assert media["clusters"] == ["mediacityuk"]
            event = link_event(ClusterLinkActivated, status="active")  # MediaCityUK (Manchester) – BioCluster (Leipzig)
            await produce(env.kafka, env.topic("recommendations"), [event.to_kafka()])
            await eventually(lambda: _delivered(admin, 2), what="two deliveries")
            await eventually(lambda: _count(lambda: len(inbox.messages) >= 2), what="the mails")
            delivered = await deliveries(admin, status="delivered")
            assert {d["stakeholder_id"] for d in delivered} == {leipzig["id"], lyon["id"]}
            assert {d["subscription_id"] for d in delivered if d["stakeholder_id"] == lyon["id"]} == {media["id"]}
            assert all(d["event_type"] == event.type for d in delivered)
    subjects = {m["To"]: m["Subject"].strip() for m in inbox.messages}
    assert subjects == {
        "anne.martin@leipzig.example": "[CLUSNET] Lien inter-clusters désormais actif : MediaCityUK – BioCluster Leipzig",
        "luc@lyon.example": "[CLUSNET] Inter-cluster link now active: MediaCityUK – BioCluster Leipzig",
    }


@pytest.mark.parametrize(
    ("url", "allow_loopback"),
    [
        ("http://169.254.169.254/latest/meta-data/iam", True),  # never, even where loopback is allowed
        ("http://10.0.0.1/hook", True),
        ("http://[fe80::1]/hook", True),
        ("http://127.0.0.1:5432/", False),
        ("http://localhost:5432/", False),
    ],
)
async def test_webhook_to_a_non_public_address_is_refused_at_subscription(env: Env, url: str, allow_loopback: bool) -> None:
    app = create_app(settings_for(env, 1, webhook_allow_loopback=allow_loopback, run_workers=False))
    async with running(app), await env.client(app, "admin") as admin:
        person = await stakeholder(admin)
        answer = await admin.post("/subscriptions", json={"stakeholder_id": person["id"], "channel": "webhook", "url": url})
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert "webhooks are not sent to" in answer.json()["detail"]
        assert (await admin.get("/subscriptions")).json()["items"] == []


async def test_webhook_target_is_checked_again_at_delivery(env: Env) -> None:
    """Accepted while loopback was allowed, delivered after it no longer is (as when a name comes to
    resolve elsewhere): the attempt is refused and recorded, and nothing reaches the receiver."""
    async with smtp_server() as (_, smtp_port), webhook_receiver() as receiver:
        settings = settings_for(env, smtp_port)
        app = create_app(settings)
        async with running(app), await env.client(app, "admin") as admin:
            person = await stakeholder(admin)
            await subscribe(admin, stakeholder_id=person["id"], channel="webhook", url=receiver.url)
            settings.webhook_allow_loopback = False
            await produce(env.kafka, env.topic("recommendations"), [issued().to_kafka()])
            [refused] = await eventually(lambda: _with_attempts(admin), what="a refused attempt")
        assert refused["status"] == "pending" and "refused: webhooks are not sent to a loopback address" in refused["last_error"]
        assert receiver.requests == []


async def test_passes_at_once_send_each_delivery_once(env: Env) -> None:
    """Four dispatch passes share the due rows (FOR UPDATE SKIP LOCKED): 120 events, batches of 10,
    every webhook sent exactly once."""
    async with smtp_server() as (_, smtp_port), webhook_receiver() as receiver:
        app = create_app(settings_for(env, smtp_port, dispatch_batch=10, dispatch_passes=4))
        async with running(app), await env.client(app, "admin") as admin:
            person = await stakeholder(admin)
            await subscribe(admin, stakeholder_id=person["id"], channel="webhook", url=receiver.url)
            events = [issued(title=f"rec {i}") for i in range(120)]
            await produce(env.kafka, env.topic("recommendations"), [e.to_kafka() for e in events])
            await eventually(lambda: _count(lambda: len(receiver.requests) >= 120), timeout=60, what="120 webhooks")
            await read_topic(env.kafka, env.topic("notifications"), 120)  # 120 notification.delivered, and no more
        ids = [json.loads(body)["id"] for _, body in receiver.requests]
        assert sorted(ids) == sorted(str(e.id) for e in events)  # each once, none missing


async def test_the_consumer_takes_no_more_events_than_the_dispatcher_has_room_for(env: Env) -> None:
    """A receiver that answers, but slowly (0.2 s, one pass of 5 at a time: 25 webhooks a second):
    the consumer does not run ahead of the dispatcher (the events wait in Kafka, where admission
    upstream sees them), then everything goes out once."""
    async with smtp_server() as (_, smtp_port), webhook_receiver() as receiver:
        receiver.delay_s = 0.2
        settings = settings_for(env, smtp_port, dispatch_batch=5, dispatch_passes=1)
        app = create_app(settings)
        async with running(app), await env.client(app, "admin") as admin:
            person = await stakeholder(admin)
            await subscribe(admin, stakeholder_id=person["id"], channel="webhook", url=receiver.url)
            events = [issued(title=f"rec {i}") for i in range(200)]
            await produce(env.kafka, env.topic("recommendations"), [e.to_kafka() for e in events])
            await eventually(lambda: _count(lambda: receiver.requests), what="the first pass in the receiver")
            await asyncio.sleep(2)
            made = len(await deliveries(admin, limit=200))
            waiting = await group_lag(env.kafka, settings.consumer_group, [env.topic("recommendations")])
            # about 50 sent in these 2 s, and room for 10 more ahead (rules.intake_ahead); running
            # ahead, the consumer had made all 200 at once
            assert made <= 90, made
            assert waiting >= 100, waiting  # the others wait in Kafka
            await eventually(lambda: _count(lambda: len(receiver.requests) >= 200), timeout=60, what="200 webhooks")
            await eventually(
                lambda: _count_async(deliveries(admin, status="delivered", limit=200), 200), timeout=30, what="all delivered"
            )
        ids = [json.loads(body)["id"] for _, body in receiver.requests]
        assert sorted(ids) == sorted(str(e.id) for e in events)  # each once, none missing


async def test_a_receiver_that_hangs_holds_up_no_other_subscriber_and_no_event(env: Env) -> None:
    """Two webhook subscribers, one whose endpoint hangs: the other gets every event at once, and
    the consumer keeps taking events (none waits in Kafka for the hanging one, so admission
    upstream refuses nothing for it); once the hanging endpoint answers, it gets each event once."""
    async with smtp_server() as (_, smtp_port), webhook_receiver() as stuck, webhook_receiver() as healthy:
        stuck.gate = asyncio.Event()
        settings = settings_for(env, smtp_port, dispatch_batch=5, dispatch_passes=2, dispatch_wait_s=0.3, webhook_timeout_s=60)
        app = create_app(settings)
        async with running(app), await env.client(app, "admin") as admin:
            person = await stakeholder(admin)
            for receiver in (stuck, healthy):
                await subscribe(admin, stakeholder_id=person["id"], channel="webhook", url=receiver.url)
            events = [issued(title=f"rec {i}") for i in range(60)]
            topic = env.topic("recommendations")
            try:
                await produce(env.kafka, topic, [e.to_kafka() for e in events])
                await eventually(lambda: _count(lambda: len(healthy.requests) >= 60), timeout=30, what="60 webhooks, healthy")
                await eventually(
                    lambda: _lag_is_zero(env, settings.consumer_group, topic), timeout=10, what="the consumer caught up"
                )
                assert len(stuck.requests) <= 2 * 5  # what the two passes took before its subscription was left out
            finally:
                stuck.gate.set()  # a failure must not leave the receiver hanging the shutdown
            await eventually(lambda: _count(lambda: len(stuck.requests) >= 60), timeout=60, what="60 webhooks, stuck")
            await eventually(
                lambda: _count_async(deliveries(admin, status="delivered", limit=200), 120), timeout=30, what="all delivered"
            )
        for receiver in (stuck, healthy):
            ids = [json.loads(body)["id"] for _, body in receiver.requests]
            assert sorted(ids) == sorted(str(e.id) for e in events)  # each once, none missing


async def _lag_is_zero(env: Env, group: str, topic: str) -> bool:
    return await group_lag(env.kafka, group, [topic]) == 0


async def test_the_dispatcher_is_woken_only_by_commits_that_made_deliveries(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass that sent a webhook commits its record, and the consumer commits events that match no
    subscription: neither may wake the dispatcher (each such pass found nothing, three round trips
    for nothing). A batch that made a delivery wakes it once that batch has committed."""
    passes: list[int] = []  # what each pass sent
    dispatch_due = Dispatcher.dispatch_due

    async def counted(self: Dispatcher, http: httpx.AsyncClient) -> int:
        passes.append(await dispatch_due(self, http))
        return passes[-1]

    monkeypatch.setattr(Dispatcher, "dispatch_due", counted)
    async with smtp_server() as (_, smtp_port), webhook_receiver() as receiver:
        settings = env.settings(Settings, smtp_port=smtp_port, dispatch_interval_s=60)  # passes only when woken
        app = create_app(settings)
        async with running(app), await env.client(app, "admin") as admin:
            person = await stakeholder(admin)
            await subscribe(admin, stakeholder_id=person["id"], channel="webhook", url=receiver.url, cities=["leipzig"])
            # the pass at start (the only one so far: subscribing wakes nothing, only a consumer batch
            # that made deliveries, the retry endpoint and an import do)
            await eventually(lambda: _count(lambda: len(passes) >= 1), what="the dispatcher's pass at start")
            before = len(passes)
            elsewhere = issued(city="lyon")  # matches no subscription
            await produce(env.kafka, env.topic("recommendations"), [elsewhere.to_kafka()])
            topic = env.topic("recommendations")
            await eventually(lambda: _lag_is_zero(env, settings.consumer_group, topic), what="the event consumed")
            await asyncio.sleep(1.0)  # were its commit to wake the dispatcher, a pass would have come
            assert passes[before:] == [], passes
            await produce(env.kafka, env.topic("recommendations"), [issued().to_kafka()])
            await eventually(lambda: _count(lambda: 1 in passes), what="the webhook sent")
            await asyncio.sleep(1.5)  # were the pass's own commit to wake it, another would have come
    assert passes[before:] == [1], passes
    assert len(receiver.requests) == 1
