"""Recommendations service on real Kafka and PostgreSQL: lifecycle, events, idempotency, bad input."""

from __future__ import annotations

import json

import pytest

from services.recommendations.config import Settings
from services.recommendations.main import create_app
from services.recommendations.seed import load_demo_data
from shared.contracts.envelope import Event
from shared.platform.schemas import schema_of
from tests.support import Env, read_topic, running

pytestmark = pytest.mark.services


async def seeded(env: Env) -> Settings:
    settings = env.settings(Settings)
    await load_demo_data(settings)
    return settings


async def test_lifecycle_over_http_emits_matching_events(env: Env) -> None:
    settings = await seeded(env)
    app = create_app(settings)
    async with running(app), await env.client(app, "lead_partner") as lead:
        seminar = (
            await lead.post(
                "/seminars",
                json={"host_city": "munich", "theme": "Munich clusters", "cluster": "mediacityuk", "held_on": "2010-03-01"},
            )
        ).json()
        draft = await lead.post(
            f"/seminars/{seminar['id']}/recommendations",
            json={"title": "Open labs", "text": "Open the labs to SMEs.", "dimension": "processes", "due_date": "2011-03-01"},
        )
        assert draft.status_code == 201, draft.text
        rec = draft.json()
        assert rec["target_city"] == "munich" and rec["status"] == "draft"
        issued = await lead.post(f"/recommendations/{rec['id']}/issue")
        assert issued.json()["status"] == "issued"
        revised = await lead.post(
            f"/recommendations/{rec['id']}/revise", json={"reason": "clarified", "text": "Open the university labs to SMEs."}
        )
        assert revised.json()["version"] == 2 and revised.json()["status"] == "revised"
        withdrawn = await lead.post(f"/recommendations/{rec['id']}/withdraw", json={"reason": "merged into another"})
        assert withdrawn.json()["status"] == "withdrawn"
        history = (await lead.get(f"/recommendations/{rec['id']}/history")).json()
        assert [h["action"] for h in history] == ["drafted", "issued", "revised", "withdrawn"]
        assert all(h["actor_role"] == "lead_partner" and h["actor_id"] for h in history)

        # 11 seeded recommendations + 3 seminar events, then this seminar's 1 + the 3 transitions
        records = await read_topic(env.kafka, env.topic("recommendations"), 3 + 3 + 11 + 1 + 3)
    ours = [r for r in records if r.key == rec["id"].encode()]
    types = [dict(r.headers)["ce_type"].decode() for r in ours]
    assert types == [f"eu.clusnet.recommendation.{t}.v1" for t in ("issued", "revised", "withdrawn")]
    for record in ours:
        headers = dict(record.headers)
        assert headers["ce_specversion"] == b"1.0" and headers["ce_subject"] == rec["id"].encode()
        assert headers["traceparent"].startswith(b"00-")
        event = Event.from_kafka(record.headers, record.value)
        schema_of(event.type).validate(json.loads(record.value))
        assert event.data["recommendation"]["id"] == rec["id"]
    assert json.loads(ours[1].value)["recommendation"]["text"] == "Open the university labs to SMEs."


async def test_publishing_a_report_issues_all_drafts_at_once(env: Env) -> None:
    settings = await seeded(env)
    app = create_app(settings)
    async with running(app), await env.client(app, "lead_partner") as lead:
        seminar = (
            await lead.post(
                "/seminars",
                json={"host_city": "helsinki", "theme": "Helsinki", "cluster": "lyon-cleantech", "held_on": "2010-05-01"},
            )
        ).json()
        for i in range(3):
            await lead.post(
                f"/seminars/{seminar['id']}/recommendations", json={"title": f"R{i}", "text": "t", "dimension": "setting"}
            )
        published = await lead.post(f"/seminars/{seminar['id']}/publish-report")
        assert published.status_code == 200 and {r["status"] for r in published.json()} == {"issued"}
        again = await lead.post(f"/seminars/{seminar['id']}/publish-report")
        assert again.status_code == 409 and "already published" in again.json()["detail"]
        listed = (await lead.get("/recommendations", params={"seminar": seminar["id"], "status": "issued"})).json()
        assert len(listed["items"]) == 3


async def test_idempotency_key_replays_the_first_answer(env: Env) -> None:
    settings = await seeded(env)
    app = create_app(settings)
    async with running(app), await env.client(app, "lead_partner") as lead:
        body = {"host_city": "dortmund", "theme": "Dortmund logistics", "cluster": "mediacityuk", "held_on": "2010-06-01"}
        first = await lead.post("/seminars", json=body, headers={"Idempotency-Key": "k-1"})
        second = await lead.post("/seminars", json=body, headers={"Idempotency-Key": "k-1"})
        assert first.status_code == second.status_code == 201 and first.json() == second.json()
        other = await lead.post("/seminars", json={**body, "theme": "other"}, headers={"Idempotency-Key": "k-1"})
        assert other.status_code == 422 and "different request body" in other.json()["detail"]
        seminars = (await lead.get("/seminars", params={"host_city": "dortmund"})).json()["items"]
        assert len(seminars) == 1


@pytest.mark.parametrize(
    ("path_kind", "body", "status", "detail"),
    [
        (
            "seminars",
            {"host_city": "atlantis", "theme": "x", "cluster": "mediacityuk", "held_on": "2010-01-01"},
            422,
            "not a CLUSNET partner city",
        ),
        (
            "seminars",
            {"host_city": "lyon", "theme": "x", "cluster": "nowhere", "held_on": "2010-01-01"},
            422,
            "cluster 'nowhere' does not exist",
        ),
        ("draft", {"title": "t", "text": "x", "dimension": "culture"}, 422, "dimension"),
        ("draft", {"title": "  ", "text": "x", "dimension": "setting"}, 422, "title"),
        ("draft", {"title": "t", "text": "x", "dimension": "setting", "due_date": "2001-01-01"}, 422, "before the seminar"),
        (
            "draft",
            {"title": "t", "text": "x", "dimension": "setting", "target_city": "atlantis"},
            422,
            "not a CLUSNET partner city",
        ),
        ("unknown-seminar", {"title": "t", "text": "x", "dimension": "setting"}, 404, "does not exist"),
    ],
)
async def test_bad_input_is_a_clear_problem(env: Env, path_kind: str, body: dict, status: int, detail: str) -> None:
    settings = await seeded(env)
    app = create_app(settings)
    async with running(app), await env.client(app, "lead_partner") as lead:
        seminar_id = (await lead.get("/seminars")).json()["items"][0]["id"]
        path = {
            "seminars": "/seminars",
            "draft": f"/seminars/{seminar_id}/recommendations",
            "unknown-seminar": "/seminars/00000000-0000-0000-0000-000000000000/recommendations",
        }[path_kind]
        before = (await lead.get("/recommendations", params={"limit": 200})).json()["items"]
        answer = await lead.post(path, json=body)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert detail in answer.json()["detail"]
        assert (await lead.get("/recommendations", params={"limit": 200})).json()["items"] == before


async def test_invalid_transitions_answer_409_and_malformed_json_422(env: Env) -> None:
    settings = await seeded(env)
    app = create_app(settings)
    async with running(app), await env.client(app, "lead_partner") as lead:
        rec = (await lead.get("/recommendations", params={"city": "leipzig"})).json()["items"][0]
        withdrawn = await lead.post(f"/recommendations/{rec['id']}/withdraw", json={"reason": "no longer relevant"})
        assert withdrawn.status_code == 200
        revise = await lead.post(f"/recommendations/{rec['id']}/revise", json={"reason": "try", "title": "new"})
        assert revise.status_code == 409 and "withdrawn" in revise.json()["detail"]
        issue = await lead.post(f"/recommendations/{rec['id']}/issue")
        assert issue.status_code == 409
        broken = await lead.post("/seminars", content=b"{not json", headers={"content-type": "application/json"})
        assert broken.status_code == 422 and broken.headers["content-type"] == "application/problem+json"
        missing = await lead.get("/recommendations/8d3f8a3e-0000-4000-8000-000000000000")
        assert missing.status_code == 404 and "does not exist" in missing.json()["detail"]


async def test_hostile_input_is_refused_without_leaking_internals(env: Env) -> None:
    settings = await seeded(env)
    app = create_app(settings.model_copy(update={"max_body_bytes": 10_000}))
    async with running(app), await env.client(app, "lead_partner") as lead:
        seminar_id = (await lead.get("/seminars")).json()["items"][0]["id"]
        path = f"/seminars/{seminar_id}/recommendations"
        huge = await lead.post(path, content=b'{"title": "' + b"x" * 20_000 + b'"}', headers={"content-type": "application/json"})
        assert huge.status_code == 413 and huge.headers["content-type"] == "application/problem+json"
        too_long = await lead.post(path, json={"title": "t" * 301, "text": "x", "dimension": "setting"})
        assert too_long.status_code == 422 and "title" in too_long.json()["detail"]
        too_many = await lead.post(path, json={"title": "t", "text": "x", "dimension": "setting", "tags": ["a"] * 21})
        assert too_many.status_code == 422 and "tags" in too_many.json()["detail"]
        nul = await lead.post(path, json={"title": "nul\u0000byte", "text": "x", "dimension": "setting"})
        assert nul.status_code == 422, nul.text
        for answer in (huge, too_long, too_many, nul):
            assert "Traceback" not in answer.text and "SELECT" not in answer.text and "asyncpg" not in answer.text
        assert all(
            r["title"] != "nul\u0000byte" for r in (await lead.get("/recommendations", params={"limit": 200})).json()["items"]
        )


async def test_holding_a_seminar_is_a_transition_with_its_event(env: Env) -> None:
    settings = await seeded(env)
    app = create_app(settings)
    async with running(app), await env.client(app, "lead_partner") as lead:
        body = {"host_city": "dortmund", "theme": "Logistics", "cluster": "mediacityuk", "held_on": "2010-05-01"}
        seminar = (await lead.post("/seminars", json=body)).json()
        held = await lead.post(f"/seminars/{seminar['id']}/hold")
        assert held.status_code == 200 and held.json()["status"] == "held"
        again = await lead.post(f"/seminars/{seminar['id']}/hold")
        assert again.status_code == 409 and "only a scheduled seminar" in again.json()["detail"]
        assert (await lead.post(f"/seminars/{seminar['id']}/publish-report")).status_code == 200  # held → published
        late = await lead.post(f"/seminars/{seminar['id']}/hold")
        assert late.status_code == 409 and "report_published" in late.json()["detail"]
        records = await read_topic(env.kafka, env.topic("recommendations"), 3 + 3 + 11 + 3)
    ours = [dict(r.headers)["ce_type"].decode() for r in records if r.key == seminar["id"].encode()]
    assert ours == [f"eu.clusnet.seminar.{t}.v1" for t in ("scheduled", "held", "report_published")]
    held_event = next(r for r in records if dict(r.headers)["ce_type"] == b"eu.clusnet.seminar.held.v1")
    schema_of("eu.clusnet.seminar.held.v1").validate(json.loads(held_event.value))
    assert json.loads(held_event.value)["seminar"]["status"] == "held"


async def test_a_draft_names_related_recommendations(env: Env) -> None:
    settings = await seeded(env)
    app = create_app(settings)
    async with running(app), await env.client(app, "lead_partner") as lead:
        other = (await lead.get("/recommendations", params={"city": "manchester"})).json()["items"][0]
        seminar_id = (await lead.get("/recommendations", params={"city": "leipzig"})).json()["items"][0]["seminar_id"]
        body = {"title": "Attract venture capital", "text": "x", "dimension": "processes", "related_ids": [other["id"]]}
        draft = await lead.post(f"/seminars/{seminar_id}/recommendations", json=body)
        assert draft.status_code == 201, draft.text
        assert (await lead.get(f"/recommendations/{draft.json()['id']}")).json()["related_ids"] == [other["id"]]
        issued = (await lead.post(f"/recommendations/{draft.json()['id']}/issue")).json()
        assert issued["related_ids"] == [other["id"]]
