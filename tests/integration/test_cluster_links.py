"""Inter-cluster links on real Kafka and PostgreSQL: their lifecycle and refusals, their events on
the topic, and what the evaluations service makes of them (evidence on the follow-up they answer)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from services.evaluations.config import Settings as EvaluationsSettings
from services.evaluations.main import create_app as evaluations_app
from services.recommendations.config import Settings as RecommendationsSettings
from services.recommendations.demo_data import LINKS
from services.recommendations.main import create_app as recommendations_app
from services.recommendations.seed import load_demo_data
from shared.contracts.envelope import Event
from shared.platform.schemas import schema_of
from tests.factories import issued
from tests.support import Env, eventually, group_lag, produce, read_topic, running

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
    async with running(app), await env.client(app, "lead_partner") as lead, await env.client(app, "integration") as reader:
        network = (await lead.get("/network")).json()
        clusters = (await lead.get("/clusters", params={"limit": 200})).json()["items"]
        assert {n["slug"] for n in network["nodes"]} == {c["slug"] for c in clusters}
        assert len({n["city"] for n in network["nodes"]}) == 10
        assert len(network["edges"]) == len(LINKS)
        statuses = {e["description"]: e["status"] for e in network["edges"]}
        assert statuses == {link["description"]: link["status"] for link in LINKS}
        public = (await lead.get("/network", params={"public_only": True})).json()
        assert len(public["edges"]) == sum(link["public"] for link in LINKS) and all(e["public"] for e in public["edges"])
        assert public["nodes"] == network["nodes"]
        assert "/network" in app.openapi()["paths"]
        # a private link answers recommendations: private evidence, which an integration never sees
        assert (await reader.get("/network")).json() == public
        listed = (await reader.get("/cluster-links", params={"limit": 100})).json()["items"]
        assert len(listed) == len(public["edges"]) and all(link["public"] for link in listed)
        assert (await reader.get("/cluster-links", params={"public": False})).json()["items"] == []
        private = next(e for e in network["edges"] if not e["public"])
        assert (await reader.get(f"/cluster-links/{private['id']}")).status_code == 404
        assert (await lead.get(f"/cluster-links/{private['id']}")).status_code == 200
        # and another city's private link never leaves that city's own view
        cities = {c["slug"]: c["city"] for c in clusters}
        theirs = {cities[slug] for slug in private["clusters"]}
        outsider = next(c for c in ("lyon", "leipzig", "munich") if c not in theirs)
        async with (
            await env.client(app, "city_official", outsider) as other,
            await env.client(app, "city_official", sorted(theirs)[0]) as own,
        ):
            assert private["id"] not in {e["id"] for e in (await other.get("/network")).json()["edges"]}
            assert private["id"] not in {link["id"] for link in (await other.get("/cluster-links")).json()["items"]}
            assert (await other.get(f"/cluster-links/{private['id']}")).status_code == 404
            assert private["id"] in {e["id"] for e in (await own.get("/network")).json()["edges"]}
            assert (await own.get(f"/cluster-links/{private['id']}")).status_code == 200


async def _evidence(client: httpx.AsyncClient, followup_id: str) -> list[dict[str, Any]]:
    return (await client.get(f"/follow-ups/{followup_id}/evidence")).json()


def _link_items(evidence: list[dict[str, Any]], link_id: str) -> list[dict[str, Any]]:
    return [e for e in evidence if e["cluster_link_id"] == link_id]


async def test_a_link_answering_manchester_is_evidence_on_its_followup_until_cancelled(env: Env) -> None:
    rec_settings = await seeded(env)
    recommendations, evaluations = recommendations_app(rec_settings), evaluations_app(env.settings(EvaluationsSettings))
    async with (
        running(recommendations),
        running(evaluations),
        await env.client(recommendations, "lead_partner") as lead,
        await env.client(evaluations, "integration") as reader,
    ):
        rec = await recommendation_of(lead, "manchester", "Link industry with venture capital and universities")

        async def followup() -> dict[str, Any] | None:
            items = (await reader.get("/follow-ups", params={"city": "manchester", "limit": 200})).json()["items"]
            return next((f for f in items if f["recommendation_id"] == rec["id"]), None)

        manchester = await eventually(followup, what="Manchester's follow-up")
        body = {
            "clusters": ["mediacityuk", "leipzig-biocluster"],
            "kind": "joint_project",
            "description": "Investor days shared by MediaCityUK and the BioCluster",
            "recommendation_ids": [rec["id"]],
        }
        kept = (await lead.post("/cluster-links", json=body)).json()
        dropped = (await lead.post("/cluster-links", json={**body, "description": "A second try, later cancelled"})).json()

        async def shown(link_id: str, status: str) -> list[dict[str, Any]] | None:
            items = _link_items(await _evidence(reader, manchester["id"]), link_id)
            return items if [e["cluster_link_status"] for e in items] == [status] else None

        [item] = await eventually(lambda: shown(kept["id"], "proposed"), what="the proposed link as evidence")
        assert item["public"] is True and item["source"] == "cluster_link" and item["cluster_link_kind"] == "joint_project"
        assert "MediaCityUK (Manchester) – BioCluster Leipzig (Leipzig)" in item["title"]
        for verb, status in (("establish", "established"), ("activate", "active")):
            assert (await lead.post(f"/cluster-links/{kept['id']}/{verb}")).status_code == 200
            await eventually(lambda s=status: shown(kept["id"], s), what=f"the link shown {status}")  # type: ignore[misc]
        await eventually(lambda: shown(dropped["id"], "proposed"), what="the second link")
        assert (await lead.post(f"/cluster-links/{dropped['id']}/cancel", json={"reason": "merged"})).status_code == 200

        async def gone(link_id: str) -> bool:
            return not _link_items(await _evidence(reader, manchester["id"]), link_id)

        await eventually(lambda: gone(dropped["id"]), what="the cancelled link gone")
        before = await _evidence(reader, manchester["id"])
        history_before = (await reader.get(f"/follow-ups/{manchester['id']}/history")).json()

        # Replays: the same messages again (the inbox drops them), and the older states again as new
        # events (the link's version drops them): the cancelled link stays gone, the other stays active.
        topic = env.topic("recommendations")
        records = await read_topic(env.kafka, topic, SEEDED_EVENTS + 6)
        ours = [r for r in records if r.key in (kept["id"].encode(), dropped["id"].encode())]
        assert len(ours) == 5
        fresh = [Event.from_kafka(r.headers, r.value).model_copy(update={"id": uuid.uuid4()}) for r in ours]
        await produce(env.kafka, topic, [(r.key, r.value, list(r.headers)) for r in ours] + [e.to_kafka() for e in fresh])
        group = f"{env.prefix}-evaluations"
        await eventually(lambda: _drained(env.kafka, group, [topic]), what="evaluations caught up")
        assert await _evidence(reader, manchester["id"]) == before
        assert (await reader.get(f"/follow-ups/{manchester['id']}/history")).json() == history_before
        assert [e["cluster_link_status"] for e in _link_items(before, kept["id"])] == ["active"]

        assert (await lead.post(f"/cluster-links/{kept['id']}/end")).status_code == 200
        await eventually(lambda: shown(kept["id"], "ended"), what="the ended link still shown, as ended")


async def _drained(bootstrap: str, group: str, topics: list[str]) -> bool:
    return await group_lag(bootstrap, group, topics) == 0


async def test_peers_of_a_leipzig_followup(env: Env) -> None:
    app = evaluations_app(env.settings(EvaluationsSettings))
    ids = {city: uuid.uuid4() for city in ("leipzig", "manchester", "lyon", "munich", "barcelona", "helsinki")}
    events = [
        issued(
            ids["leipzig"],
            city="leipzig",
            dimension="processes",
            tags=["FDI", "business development"],
            related_ids=[ids["helsinki"]],
        ),
        issued(ids["manchester"], city="manchester", dimension="processes", tags=["venture capital", "fdi"]),
        issued(ids["lyon"], city="lyon", dimension="objectives", tags=["private engagement"], related_ids=[ids["leipzig"]]),
        issued(ids["munich"], city="munich", dimension="processes", tags=["branding"]),
        issued(ids["barcelona"], city="barcelona", dimension="objectives", tags=["FDI"]),
        issued(ids["helsinki"], city="helsinki", dimension="setting", tags=[]),  # named by Leipzig's
    ]
    async with running(app), await env.client(app, "lead_partner") as lead:
        await produce(env.kafka, env.topic("recommendations"), [e.to_kafka() for e in events])

        async def all_open() -> dict[str, dict[str, Any]] | None:
            items = (await lead.get("/follow-ups", params={"limit": 200})).json()["items"]
            return {f["city"]: f for f in items} if len(items) == len(events) else None

        followups = await eventually(all_open, what="six follow-ups")
        manchester = await env.client(app, "city_official", "manchester")
        lyon = await env.client(app, "city_official", "lyon")
        leipzig = await env.client(app, "city_official", "leipzig")
        m_url, y_url = f"/follow-ups/{followups['manchester']['id']}", f"/follow-ups/{followups['lyon']['id']}"
        etag = (await manchester.get(m_url)).headers["etag"]
        etag = (await manchester.patch(m_url, json={"response": "accepted"}, headers={"If-Match": etag})).headers["etag"]
        await manchester.patch(m_url, json={"implementation_status": "in_progress"}, headers={"If-Match": etag})
        private = {"title": "Internal memo on investors", "url": "https://manchester.example/memo", "public": False}
        public = {"title": "Investor day report", "url": "https://manchester.example/report", "public": True}
        for item in (private, public):
            assert (await manchester.post(f"{m_url}/evidence", json=item)).status_code == 201
        etag = (await lyon.get(y_url)).headers["etag"]
        await lyon.patch(y_url, json={"response": "accepted", "implementation_status": "planned"}, headers={"If-Match": etag})

        answer = await leipzig.get(f"/follow-ups/{followups['leipzig']['id']}/peers")
        assert answer.status_code == 200, answer.text
        peers = {p["city"]: p for p in answer.json()}
        assert set(peers) == {"manchester", "lyon", "helsinki"}  # a shared tag, named by it, named by it in turn
        assert (peers["manchester"]["response"], peers["manchester"]["implementation_status"]) == ("accepted", "in_progress")
        assert peers["manchester"]["shared_tags"] == ["FDI"] and peers["manchester"]["related"] is False
        assert (peers["lyon"]["response"], peers["lyon"]["implementation_status"]) == ("accepted", "planned")
        assert peers["lyon"]["related"] is True and peers["lyon"]["evidence"] == []
        assert [e["title"] for e in peers["manchester"]["evidence"]] == ["Investor day report"]
        assert "Internal memo" not in answer.text and "manchester.example/memo" not in answer.text
        assert (await lead.get(f"/follow-ups/{followups['leipzig']['id']}/peers")).json() == answer.json()
        refused = await leipzig.get(f"{m_url}/peers")
        assert refused.status_code == 403 and "may not" in refused.json()["detail"]
        for client in (manchester, lyon, leipzig):
            await client.aclose()


async def test_the_demo_data_shows_the_same_advice_elsewhere(env: Env) -> None:
    rec_settings = await seeded(env)
    recommendations, evaluations = recommendations_app(rec_settings), evaluations_app(env.settings(EvaluationsSettings))
    async with (
        running(recommendations),
        running(evaluations),
        await env.client(evaluations, "city_official", "leipzig") as leipzig,
        await env.client(evaluations, "integration") as reader,
    ):

        async def seeded_followups() -> list[dict[str, Any]] | None:
            items = (await leipzig.get("/follow-ups", params={"limit": 200})).json()["items"]
            return items if len(items) == 4 else None

        followups = {f["recommendation_title"]: f for f in await eventually(seeded_followups, what="Leipzig's follow-ups")}

        async def peers_of(title: str) -> dict[str, dict[str, Any]]:
            answer = await leipzig.get(f"/follow-ups/{followups[title]['id']}/peers")
            assert answer.status_code == 200, answer.text
            return {f"{p['city']}: {p['recommendation_title']}": p for p in answer.json()}

        async def all_replicated() -> bool:  # every city's follow-ups, and the demo links' evidence
            items = (await reader.get("/follow-ups", params={"limit": 200})).json()["items"]
            linked = [e for f in items for e in (await reader.get(f"/follow-ups/{f['id']}/evidence")).json()]
            return len(items) == 11 and len(linked) == 3  # the 3 demo links that answer a recommendation

        await eventually(all_replicated, what="the seeded follow-ups and link evidence")
        fdi = await peers_of("Develop an FDI strategy and a business development agency")
        [vc] = fdi.values()
        assert list(fdi) == ["manchester: Link industry with venture capital and universities"]
        assert vc["related"] is True and vc["shared_tags"] == ["venture capital"] and vc["response"] == "pending"
        private = await peers_of("Involve private industry")
        assert list(private) == ["lyon: Seek stronger private engagement"]
        brand = await peers_of("Build a stronger brand for the city region and the BioCluster")
        assert list(brand) == ["manchester: Strengthen branding for international visibility"]
        assert brand["manchester: Strengthen branding for international visibility"]["shared_tags"] == ["branding"]
        profile = await peers_of("Raise the international profile through EU programmes")
        [linkages] = profile.values()
        assert linkages["recommendation_title"] == "Promote inter-cluster linkages"
        assert [(e["source"], e["cluster_link_status"]) for e in linkages["evidence"]] == [("cluster_link", "active")]
