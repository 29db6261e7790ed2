"""Inter-cluster links on real Kafka and PostgreSQL: their lifecycle and refusals, their events on
the topic, and what the evaluations service makes of them (evidence on the follow-up they answer)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.recommendations.config import Settings as RecommendationsSettings
from services.recommendations.demo_data import LINKS
from services.recommendations.main import create_app as recommendations_app
from services.recommendations.seed import load_demo_data
from shared.contracts.envelope import Event
from shared.platform.schemas import schema_of
from tests.support import Env, read_topic, running

pytestmark = pytest.mark.services
SEEDED_EVENTS = 3 + 11 + 3  # seminars scheduled, recommendations issued, reports published


async def seeded(env: Env) -> RecommendationsSettings:
    settings = env.settings(RecommendationsSettings)
    await load_demo_data(settings)
    return settings


async def recommendation_of(client: httpx.AsyncClient, city: str, title: str) -> dict[str, Any]:
    items = (await client.get("/recommendations", params={"city": city})).json()["items"]
    return next(r for r in items if r["title"] == title)


async def test_lifecycle_refusals_and_events(env: Env) -> None:
    app = recommendations_app(await seeded(env))
    async with running(app), await env.client(app, "lead_partner") as lead:
        body = {
            "clusters": ["leipzig-biocluster", "lyon-cleantech"],
            "kind": "cooperation_agreement",
            "description": "Shared services for biotech and cleantech start-ups",
            "starts_on": "2010-09-01",
        }
        proposed = await lead.post("/cluster-links", json=body)
        assert proposed.status_code == 201, proposed.text
        link = proposed.json()
        assert link["status"] == "proposed" and link["version"] == 1 and link["cities"] == ["leipzig", "lyon"]
        assert [c["city"] for c in link["clusters"]] == ["leipzig", "lyon"]
        url = f"/cluster-links/{link['id']}"

        refused = await lead.post(f"{url}/activate")
        assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["detail"] == "cannot activate a proposed link: it is only proposed; establish it first"
        assert (await lead.post(f"{url}/end")).json()["detail"].endswith("it never became active; cancel it instead")

        established = (await lead.post(f"{url}/establish", json={"reason": "signed in Leipzig"})).json()
        assert established["status"] == "established" and established["status_reason"] == "signed in Leipzig"
        active = (await lead.post(f"{url}/activate")).json()
        assert active["status"] == "active" and active["starts_on"] == "2010-09-01" and active["version"] == 3
        cancel = await lead.post(f"{url}/cancel")
        assert cancel.status_code == 409 and "it is active; end it instead" in cancel.json()["detail"]
        ended = (await lead.post(f"{url}/end", json={"on": "2012-08-31"})).json()
        assert ended["status"] == "ended" and ended["ends_on"] == "2012-08-31"
        again = await lead.post(f"{url}/establish")
        assert again.status_code == 409 and "it has ended" in again.json()["detail"]
        assert (await lead.get(url)).json() == ended

        same_city = await lead.post("/cluster-links", json={**body, "clusters": ["leipzig-biocluster", "leipzig-biocluster"]})
        assert same_city.status_code == 422 and "named twice" in same_city.json()["detail"]
        listed = (await lead.get("/cluster-links", params={"city": "leipzig", "status": "ended"})).json()["items"]
        assert [x["id"] for x in listed] == [link["id"]]
        by_cluster = (await lead.get("/cluster-links", params={"cluster": "lyon-cleantech"})).json()["items"]
        assert link["id"] in {x["id"] for x in by_cluster} and all(
            "lyon-cleantech" in [c["slug"] for c in x["clusters"]] for x in by_cluster
        )

        records = await read_topic(env.kafka, env.topic("recommendations"), SEEDED_EVENTS + 4)
    ours = [r for r in records if r.key == link["id"].encode()]
    assert [dict(r.headers)["ce_type"].decode() for r in ours] == [
        f"eu.clusnet.cluster_link.{t}.v1" for t in ("proposed", "established", "activated", "ended")
    ]
    for record in ours:
        event = Event.from_kafka(record.headers, record.value)
        schema_of(event.type).validate(json.loads(record.value))
        assert event.data["link"]["id"] == link["id"] and event.data["actor"]["role"] == "lead_partner"
    assert [json.loads(r.value)["link"]["version"] for r in ours] == [1, 2, 3, 4]
    assert json.loads(ours[-1].value)["link"]["clusters"][1] == {
        "slug": "lyon-cleantech",
        "name": "Lyon cleantech cluster",
        "sector": "cleantech",
        "city": "lyon",
    }


async def test_a_link_within_one_city_is_refused_with_a_clear_422(env: Env) -> None:
    settings = await seeded(env)
    app = recommendations_app(settings)
    async with running(app), await env.client(app, "admin") as admin:
        second = {"slug": "leipzig-energy", "name": "Energy cluster Leipzig", "sector": "energy", "city": "leipzig"}
        assert (await admin.post("/clusters", json=second)).status_code == 201
        before = (await admin.get("/cluster-links", params={"limit": 200})).json()["items"]
        answer = await admin.post(
            "/cluster-links",
            json={"clusters": ["leipzig-biocluster", "leipzig-energy"], "kind": "joint_project", "description": "local"},
        )
        assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["detail"] == (
            "all clusters of the link are in leipzig: an inter-cluster link joins clusters of different partner cities"
        )
        assert (await admin.get("/cluster-links", params={"limit": 200})).json()["items"] == before


async def test_who_may_propose_and_what_a_link_may_answer(env: Env) -> None:
    app = recommendations_app(await seeded(env))
    async with (
        running(app),
        await env.client(app, "city_official", "leipzig") as leipzig,
        await env.client(app, "lead_partner") as lead,
    ):
        manchester_rec = await recommendation_of(lead, "manchester", "Promote inter-cluster linkages")
        foreign = await leipzig.post(
            "/cluster-links",
            json={"clusters": ["mediacityuk", "lyon-cleantech"], "kind": "study_visit", "description": "not ours"},
        )
        assert foreign.status_code == 403 and "involving a cluster of leipzig" in foreign.json()["detail"]
        stranger = await lead.post(
            "/cluster-links",
            json={
                "clusters": ["leipzig-biocluster", "lyon-cleantech"],
                "kind": "study_visit",
                "description": "answers a Manchester recommendation without Manchester",
                "recommendation_ids": [manchester_rec["id"]],
            },
        )
        assert stranger.status_code == 422 and "(to manchester)" in stranger.json()["detail"]
        exchange = {
            "clusters": ["leipzig-biocluster", "mediacityuk"],
            "kind": "staff_exchange",
            "description": "A BioCluster manager at MediaCityUK for a month",
            "staff_exchange": {"person": "Cluster manager, BioCluster", "home_city": "leipzig"},
            "recommendation_ids": [manchester_rec["id"]],
        }
        own = await leipzig.post("/cluster-links", json=exchange, headers={"Idempotency-Key": "x-1"})
        assert own.status_code == 201, own.text
        replay = await leipzig.post("/cluster-links", json=exchange, headers={"Idempotency-Key": "x-1"})
        assert replay.json() == own.json()
        assert own.json()["staff_exchange"] == {"person": "Cluster manager, BioCluster", "home_city": "leipzig", "learned": None}
        no_details = await lead.post("/cluster-links", json={**exchange, "staff_exchange": None})
        assert no_details.status_code == 422 and "needs `staff_exchange`" in no_details.json()["detail"]
        assert (await leipzig.post(f"/cluster-links/{own.json()['id']}/establish")).status_code == 403
        url = f"/cluster-links/{own.json()['id']}"
        for verb in ("establish", "activate"):
            assert (await lead.post(f"{url}/{verb}")).status_code == 200
        ended = (await lead.post(f"{url}/end", json={"learned": "How a media cluster courts investors."})).json()
        assert ended["staff_exchange"]["learned"] == "How a media cluster courts investors."


async def test_network_has_every_cluster_and_the_links(env: Env) -> None:
    app = recommendations_app(await seeded(env))
    async with running(app), await env.client(app, "integration") as reader:
        network = (await reader.get("/network")).json()
        clusters = (await reader.get("/clusters", params={"limit": 200})).json()["items"]
        assert {n["slug"] for n in network["nodes"]} == {c["slug"] for c in clusters}
        assert len({n["city"] for n in network["nodes"]}) == 10
        assert len(network["edges"]) == len(LINKS)
        statuses = {e["description"]: e["status"] for e in network["edges"]}
        assert statuses == {link["description"]: link["status"] for link in LINKS}
        public = (await reader.get("/network", params={"public_only": True})).json()
        assert len(public["edges"]) == sum(link["public"] for link in LINKS) and all(e["public"] for e in public["edges"])
        assert public["nodes"] == network["nodes"]
        assert "/network" in app.openapi()["paths"]
