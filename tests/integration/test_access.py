"""Access control on real services: every endpoint × every role against docs/security.md, and a
Leipzig official who tries every route to change a Lyon follow-up, changing nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.evaluations.config import Settings as EvaluationsSettings
from services.evaluations.main import create_app as evaluations_app
from services.notifications.config import Settings as NotificationsSettings
from services.notifications.main import create_app as notifications_app
from services.recommendations.config import Settings as RecommendationsSettings
from services.recommendations.main import create_app as recommendations_app
from services.recommendations.seed import load_demo_data
from shared.platform import auth
from shared.platform.db import make_engine, make_session_factory
from tests.support import Env, eventually, running

pytestmark = pytest.mark.services
ROLES = ("admin", "lead_partner", "city_official", "integration")
PUBLIC = {"/healthz", "/readyz", "/metrics", "/asyncapi.json", "/unsubscribe/{token}"}  # the unsubscribe token is its credential
MATRIX_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def documented_matrix() -> dict[str, dict[tuple[str, str], dict[str, str]]]:
    """{service: {(METHOD, path): {role: yes|no|own}}} read from docs/security.md."""
    matrix: dict[str, dict[tuple[str, str], dict[str, str]]] = {}
    service = None
    for line in MATRIX_DOC.read_text().splitlines():
        if heading := re.match(r"### (\w+) \(", line):
            service = heading.group(1)
            matrix[service] = {}
        elif service and (row := re.match(r"\| (GET|POST|PATCH|DELETE) (\S+) \| (\w+) \| (\w+) \| (\w+) \| (\w+) \|", line)):
            matrix[service][(row.group(1), row.group(2))] = dict(zip(ROLES, row.groups()[2:], strict=True))
    return matrix


@dataclass
class World:
    apps: dict[str, Any]
    tokens: dict[str, str]
    ids: dict[str, str]
    lyon_followup: str

    def client(self, service: str, token: str | None) -> httpx.AsyncClient:
        # JSON, so that the event feed answers a page instead of an endless event stream
        headers = {"Accept": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.apps[service]), base_url="http://test", headers=headers)


@pytest.fixture(scope="module")
async def world(kafka: str, pg_server: str) -> AsyncIterator[World]:
    env = Env(kafka=kafka, pg_server=pg_server, prefix=f"acl{uuid.uuid4().hex[:8]}")
    apps = {
        "recommendations": recommendations_app(env.settings(RecommendationsSettings)),
        "evaluations": evaluations_app(env.settings(EvaluationsSettings)),
        "notifications": notifications_app(env.settings(NotificationsSettings, dispatch_interval_s=3600)),
    }
    async with AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(running(app))
        tokens = {role: await env.token(role, "leipzig" if role == "city_official" else None) for role in ROLES}
        tokens["expired"] = await env.token("admin", expires_in=timedelta(seconds=-1))
        revoked = await env.token("admin")
        engine = make_engine(env.auth_url, pool_size=1)
        async with make_session_factory(engine)() as session:
            await auth.revoke_token(session, revoked.split("_")[1])
        await engine.dispose()
        tokens["revoked"] = revoked
        w = World(apps=apps, tokens=tokens, ids={}, lyon_followup="")
        async with w.client("notifications", tokens["admin"]) as admin:
            person = (await admin.post("/stakeholders", json={"name": "Ops", "email": "ops@clusnet.example"})).json()
            sub = (
                await admin.post(
                    "/subscriptions", json={"stakeholder_id": person["id"], "channel": "email", "cities": ["leipzig"]}
                )
            ).json()
        await load_demo_data(env.settings(RecommendationsSettings))
        async with (
            w.client("evaluations", tokens["lead_partner"]) as lead,
            w.client("recommendations", tokens["lead_partner"]) as rec,
        ):
            followups = await eventually(lambda: _at_least(lead, "/follow-ups", 11), what="the seeded follow-ups")
            recommendation = (await rec.get("/recommendations")).json()["items"][0]
            link = (await rec.get("/cluster-links")).json()["items"][0]
        async with w.client("notifications", tokens["admin"]) as admin:
            [delivery, *_] = await eventually(lambda: _at_least(admin, "/deliveries", 1), what="a delivery")
        w.ids = {
            "slug": "leipzig",
            "seminar_id": recommendation["seminar_id"],
            "rec_id": recommendation["id"],
            "link_id": link["id"],
            "followup_id": next(f["id"] for f in followups if f["city"] == "leipzig"),
            "stakeholder_id": person["id"],
            "subscription_id": sub["id"],
            "delivery_id": delivery["id"],
            "job_id": str(uuid.uuid4()),  # an unknown job: 404 for who may read jobs, 403 for the others
            "evidence_id": str(uuid.uuid4()),  # unknown: the file routes answer 404 to whoever may ask
        }
        w.lyon_followup = next(f["id"] for f in followups if f["city"] == "lyon")
        yield w


async def _at_least(client: httpx.AsyncClient, path: str, n: int) -> list[dict[str, Any]] | None:
    items = (await client.get(path, params={"limit": 200})).json()["items"]
    return items if len(items) >= n else None


def test_the_matrix_covers_every_endpoint(world: World) -> None:
    matrix = documented_matrix()
    for service, app in world.apps.items():
        operations = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops if p not in PUBLIC}
        assert operations == set(matrix[service]), f"{service}: docs/security.md and the API differ"


@pytest.mark.parametrize("service", ["recommendations", "evaluations", "notifications"])
async def test_every_endpoint_with_every_role(world: World, service: str) -> None:
    mismatches = []
    for (method, template), expected in documented_matrix()[service].items():
        path = template.format(**world.ids)
        body = {} if method in ("POST", "PATCH") else None
        for who in (*ROLES, None, "garbage", "expired", "revoked"):
            token = world.tokens.get(who, "clusnet_0000_nothing") if who else None
            async with world.client(service, token) as client:
                answer = await client.request(method, path, json=body)
            want = expected[who] if who in ROLES else "unauthenticated"
            ok = {
                "unauthenticated": answer.status_code == 401,
                "no": answer.status_code == 403,
                "yes": answer.status_code not in (401, 403) and answer.status_code < 500,
                "own": answer.status_code not in (401, 403) and answer.status_code < 500,
                "person": answer.status_code == 403,  # these tokens are programs'; a portal person's token may
            }[want]
            if answer.status_code >= 400:
                assert answer.headers["content-type"] == "application/problem+json", (method, path, answer.text)
            if not ok:
                mismatches.append(f"{method} {path} as {who}: expected {want}, got {answer.status_code} {answer.text[:120]}")
    assert not mismatches, "\n".join(mismatches)


async def test_leipzig_cannot_change_lyon_by_any_route(world: World) -> None:
    lyon = world.lyon_followup
    async with world.client("evaluations", world.tokens["lead_partner"]) as lead:
        before = await lead.get(f"/follow-ups/{lyon}")
        history_before = (await lead.get(f"/follow-ups/{lyon}/history")).json()
    etag = before.headers["etag"]
    async with world.client("evaluations", world.tokens["city_official"]) as leipzig:
        attempts = [
            await leipzig.patch(f"/follow-ups/{lyon}", json={"implementation_status": "planned"}, headers={"If-Match": etag}),
            await leipzig.patch(f"/follow-ups/{lyon}", json={"response": "accepted"}, headers={"If-Match": "*"}),
            await leipzig.post(f"/follow-ups/{lyon}/evidence", json={"title": "fake", "url": "https://example.org"}),
            await leipzig.post(f"/follow-ups/{lyon}/verification", json={"verification": "verified"}),
            await leipzig.get(f"/follow-ups/{lyon}"),
            await leipzig.get(f"/follow-ups/{lyon}/history"),
            await leipzig.get(f"/follow-ups/{lyon}/evidence"),
            await leipzig.get(f"/follow-ups/{lyon}/peers"),
            await leipzig.get("/follow-ups", params={"city": "lyon"}),
            await leipzig.get("/follow-ups.csv", params={"city": "lyon"}),
        ]
        for answer in attempts:
            assert answer.status_code == 403, (answer.request.method, answer.request.url, answer.text)
            assert "may not" in answer.json()["detail"]
        # lists, exports and progress only ever show Leipzig
        listed = (await leipzig.get("/follow-ups", params={"limit": 200})).json()["items"]
        assert listed and {f["city"] for f in listed} == {"leipzig"}
        csv_rows = (await leipzig.get("/follow-ups.csv")).text.strip().splitlines()[1:]
        assert csv_rows and all(",leipzig," in row for row in csv_rows) and lyon not in "".join(csv_rows)
        assert {g["key"] for g in (await leipzig.get("/progress")).json()["groups"]} == {"leipzig"}
        # guessing ids: a made-up id is simply unknown
        assert (await leipzig.get(f"/follow-ups/{uuid.uuid4()}")).status_code == 404
    async with world.client("evaluations", world.tokens["lead_partner"]) as lead:
        after = await lead.get(f"/follow-ups/{lyon}")
        assert after.json() == before.json() and after.headers["etag"] == etag
        assert (await lead.get(f"/follow-ups/{lyon}/history")).json() == history_before
        # (a demo link answering this recommendation may show as evidence: it comes from recommendations)
        assert [e for e in (await lead.get(f"/follow-ups/{lyon}/evidence")).json() if e["source"] == "city"] == []
