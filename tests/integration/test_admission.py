"""Admission control: flooded past its limit of requests in progress, a service refuses the excess at
once with 503 + Retry-After (problem+json), answers no other 5xx, and applies every request it
accepted (and none it refused)."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from services.recommendations.config import Settings
from services.recommendations.main import create_app
from services.recommendations.seed import load_demo_data
from tests.support import Env, running

pytestmark = pytest.mark.services
LIMIT = 3
FLOOD = 60


async def test_flood_past_the_limit_is_refused_at_once_and_accepted_requests_are_applied(env: Env) -> None:
    settings = env.settings(Settings, max_in_flight_requests=LIMIT)
    await load_demo_data(settings)
    app = create_app(settings)
    async with running(app), await env.client(app, "lead_partner") as lead:
        seminar = (
            await lead.post(
                "/seminars",
                json={"host_city": "leipzig", "theme": "Flood", "cluster": "leipzig-biocluster", "held_on": "2026-01-01"},
            )
        ).json()
        ids = []
        for i in range(FLOOD):  # one at a time: within the limit, all accepted
            draft = await lead.post(
                f"/seminars/{seminar['id']}/recommendations",
                json={"title": f"flood {i}", "text": "Issue me.", "dimension": "processes"},
            )
            assert draft.status_code == 201, draft.text
            ids.append(draft.json()["id"])

        refused_before = await refused_count(lead)
        answers = await asyncio.gather(*(lead.post(f"/recommendations/{rec_id}/issue") for rec_id in ids))

        statuses = Counter(a.status_code for a in answers)
        assert set(statuses) == {200, 503}, statuses  # no other outcome, no other 5xx
        assert statuses[200] >= LIMIT and statuses[503] > 0, statuses
        for refused in (a for a in answers if a.status_code == 503):
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["retry-after"]) >= 1
            assert "at capacity" in refused.json()["detail"]
        for rec_id, answer in zip(ids, answers, strict=True):
            now = (await lead.get(f"/recommendations/{rec_id}")).json()["status"]
            assert now == ("issued" if answer.status_code == 200 else "draft"), (rec_id, answer.status_code, now)
        assert (await lead.get("/healthz")).status_code == 200
        assert await refused_count(lead) - refused_before == statuses[503]  # /metrics is exempt, and counts them


async def refused_count(client: httpx.AsyncClient) -> float:
    metrics = (await client.get("/metrics")).text
    line = 'clusnet_http_requests_refused_total{service="recommendations"} '
    return next((float(row.removeprefix(line)) for row in metrics.splitlines() if row.startswith(line)), 0.0)
