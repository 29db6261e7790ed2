"""End to end: the three services as real uvicorn processes on real Kafka and PostgreSQL.

A lead partner issues a recommendation over HTTP → outbox → Kafka → evaluations opens the
city's follow-up → notifications emails the stakeholder who follows that city. Then the topic
is replayed from offset 0 by fresh consumer groups: nothing appears twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from provision.processes import ServiceProcess, service_env, start_service, wait_ready
from provision.system import free_port
from tests.receivers import smtp_server
from tests.support import Env, eventually

pytestmark = pytest.mark.services


@pytest.fixture
def system(env: Env, tmp_path: Path) -> Iterator[tuple[dict[str, ServiceProcess], Any]]:
    """Start the three services; yield them and a `restart(name, **env)` function."""
    ports = {name: free_port() for name in ("recommendations", "evaluations", "notifications")}
    smtp_port = free_port()
    base = {
        "TOPIC_PREFIX": env.prefix,
        "LOG_JSON": "false",
        "SMTP_PORT": str(smtp_port),
        "RELAY_POLL_INTERVAL_S": "0.05",
        "DISPATCH_INTERVAL_S": "0.1",
    }
    running: dict[str, ServiceProcess] = {}

    def start(name: str, **extra: str) -> ServiceProcess:
        running[name] = start_service(
            name, ports[name], service_env(name, env.kafka, env.pg_server, env.prefix, **base, **extra), tmp_path
        )
        return running[name]

    def restart(name: str, **extra: str) -> None:
        running[name].stop()
        wait_ready([start(name, **extra)])

    try:
        wait_ready([start(name) for name in ports])
        yield running, (restart, smtp_port)
    finally:
        for svc in running.values():
            svc.stop()


async def client(env: Env, svc: ServiceProcess, role: str, city: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=svc.url, headers={"Authorization": f"Bearer {await env.token(role, city)}"}, timeout=10)


async def issue_to_leipzig(env: Env, services: dict[str, ServiceProcess]) -> dict[str, Any]:
    async with (
        await client(env, services["recommendations"], "admin") as admin,
        await client(env, services["recommendations"], "lead_partner") as lead,
    ):
        assert (
            await admin.post("/partners", json={"slug": "leipzig", "name": "Leipzig", "country": "Germany"})
        ).status_code == 201
        assert (
            await admin.post(
                "/clusters", json={"slug": "leipzig-biocluster", "name": "BioCluster", "sector": "biotech", "city": "leipzig"}
            )
        ).status_code == 201
        seminar = (
            await lead.post(
                "/seminars",
                json={"host_city": "leipzig", "theme": "Biotech", "cluster": "leipzig-biocluster", "held_on": "2009-11-26"},
            )
        ).json()
        draft = (
            await lead.post(
                f"/seminars/{seminar['id']}/recommendations",
                json={
                    "title": "Involve private industry",
                    "text": "Draw private companies into the cluster.",
                    "dimension": "setting",
                },
            )
        ).json()
        issued = await lead.post(f"/recommendations/{draft['id']}/issue")
        assert issued.status_code == 200, issued.text
        return issued.json()


async def test_issue_over_http_opens_followup_and_alerts_stakeholder(env: Env, system: Any) -> None:
    services, (restart, smtp_port) = system
    async with smtp_server(smtp_port) as (inbox, _), await client(env, services["notifications"], "admin") as notif:
        person = (
            await notif.post(
                "/stakeholders",
                json={"name": "Jana Vogel", "email": "jana.vogel@leipzig.example", "city": "leipzig", "language": "en"},
            )
        ).json()
        assert (
            await notif.post("/subscriptions", json={"stakeholder_id": person["id"], "channel": "email", "cities": ["leipzig"]})
        ).status_code == 201
        rec = await issue_to_leipzig(env, services)

        async with await client(env, services["evaluations"], "city_official", "leipzig") as official:
            [followup] = await eventually(lambda: _items(official, "/follow-ups"), what="the follow-up over HTTP")
        assert followup["recommendation_id"] == rec["id"] and followup["implementation_status"] == "not_started"
        alerts = await eventually(
            lambda: _items(notif, "/deliveries", status="delivered", event_type="eu.clusnet.recommendation.issued.v1"),
            what="the alert over HTTP",
        )
        assert len(alerts) == 1 and alerts[0]["stakeholder_id"] == person["id"]
        # Following Leipzig means every Leipzig event, from both topics: one email each.
        expected = {
            "[CLUSNET] seminar.scheduled · Leipzig: Biotech",
            "[CLUSNET] New recommendation for Leipzig: Involve private industry",
            "[CLUSNET] followup.opened · Leipzig: Involve private industry",
        }
        await eventually(lambda: _true(len(inbox.messages) >= 3), what="the emails")
        assert sorted(m["Subject"].strip() for m in inbox.messages) == sorted(expected)

        # Replay: fresh consumer groups read both topics from offset 0 again.
        for name in ("evaluations", "notifications"):
            restart(name, CONSUMER_GROUP_ID=f"replay-{uuid.uuid4().hex[:6]}")
        async with await client(env, services["evaluations"], "lead_partner") as lead_eval:
            await eventually(lambda: _replayed(services["evaluations"]), what="the evaluations replay to finish")
            assert len(await _items(lead_eval, "/follow-ups")) == 1
            history = (await lead_eval.get(f"/follow-ups/{followup['id']}/history")).json()
            assert [h["field"] for h in history] == ["opened"]
        async with await client(env, services["notifications"], "admin") as notif2:
            await eventually(lambda: _replayed(services["notifications"]), what="the notifications replay to finish")
            assert len(await _items(notif2, "/deliveries")) == 3
        await asyncio.sleep(1)
        assert len(inbox.messages) == 3


async def _items(c: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    answer = await c.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def _true(value: bool) -> bool:
    return value


async def _replayed(svc: ServiceProcess) -> bool:
    """The new group has caught up (lag 0 everywhere) and its inbox dropped the events it saw before."""
    lines = httpx.get(f"{svc.url}/metrics").text.splitlines()
    lags = [float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("clusnet_consumer_lag{")]
    duplicates = sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("clusnet_events_consumed_total{") and 'outcome="duplicate"' in line
    )
    return bool(lags) and all(lag == 0 for lag in lags) and duplicates > 0
