"""Evaluations service on real Kafka and PostgreSQL: replica, workflow over HTTP, deadlines, DLQ."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.evaluations import repository
from services.evaluations.config import Settings
from services.evaluations.deadlines import check_deadlines
from services.evaluations.main import create_app
from shared.contracts.envelope import Event
from shared.contracts.recommendations import RecommendationRevised, RecommendationWithdrawn
from shared.platform.db import make_engine, make_session_factory
from tests.factories import LEAD, issued, recommendation
from tests.support import Env, eventually, produce, read_topic, running

pytestmark = pytest.mark.services
state = recommendation


async def followups(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    return (await client.get("/follow-ups", params=params)).json()["items"]


async def test_replayed_events_change_nothing_and_revise_withdraw_reach_the_followup(env: Env) -> None:
    app = create_app(env.settings(Settings))
    rec_id = uuid.uuid4()
    first = issued(rec_id)
    revised = Event.of(
        RecommendationRevised(
            recommendation=state(rec_id, version=2, status="revised", due=date(2031, 1, 1)), reason="sharper", actor=LEAD
        ),
        source="/test",
        subject=str(rec_id),
    )
    withdrawn = Event.of(
        RecommendationWithdrawn(
            recommendation=state(rec_id, version=2, status="withdrawn", due=date(2031, 1, 1)), reason="superseded", actor=LEAD
        ),
        source="/test",
        subject=str(rec_id),
    )
    topic = env.topic("recommendations")
    async with running(app), await env.client(app, "lead_partner") as lead:
        await produce(env.kafka, topic, [first.to_kafka(), first.to_kafka()])  # the same event twice
        [followup] = await eventually(lambda: followups(lead, city="leipzig"), what="the follow-up")
        assert followup["implementation_status"] == "not_started" and followup["response"] == "pending"
        await produce(env.kafka, topic, [revised.to_kafka(), first.to_kafka(), revised.to_kafka()])
        revised_view = await eventually(
            lambda: _get_if(lead, followup["id"], lambda f: f["recommendation_version"] == 2), what="revision"
        )
        assert revised_view["recommendation_title"] == "Recommendation v2" and revised_view["due_date"] == "2031-01-01"
        await produce(env.kafka, topic, [withdrawn.to_kafka(), withdrawn.to_kafka()])
        closed = await eventually(lambda: _get_if(lead, followup["id"], lambda f: f["closed"]), what="closure")
        assert "superseded" in closed["closed_reason"]
        history = (await lead.get(f"/follow-ups/{followup['id']}/history")).json()
        assert [h["field"] for h in history] == ["opened", "due_date", "recommendation_version", "due_date", "closed"]
        assert len(await followups(lead)) == 1
        opened = await read_topic(env.kafka, env.topic("evaluations"), 1)
        assert [dict(r.headers)["ce_type"] for r in opened] == [b"eu.clusnet.followup.opened.v1"]


async def _get_if(client: httpx.AsyncClient, followup_id: str, ok: Any) -> dict[str, Any] | None:
    body = (await client.get(f"/follow-ups/{followup_id}")).json()
    return body if ok(body) else None


async def open_followup(
    env: Env, app: Any, city: str = "leipzig", **kw: Any
) -> tuple[httpx.AsyncClient, httpx.AsyncClient, dict[str, Any]]:
    rec_id = uuid.uuid4()
    await produce(env.kafka, env.topic("recommendations"), [issued(rec_id, city=city, **kw).to_kafka()])
    lead = await env.client(app, "lead_partner")
    official = await env.client(app, "city_official", city)
    found = await eventually(lambda: followups(lead, city=city), what="the follow-up")
    return lead, official, next(f for f in found if f["recommendation_id"] == str(rec_id))


async def test_city_workflow_with_etags_and_verification(env: Env) -> None:
    app = create_app(env.settings(Settings))
    async with running(app):
        lead, official, followup = await open_followup(env, app)
        url = f"/follow-ups/{followup['id']}"
        etag = (await official.get(url)).headers["etag"]
        no_match = await official.patch(url, json={"response": "accepted"})
        assert no_match.status_code == 428 and "If-Match" in no_match.json()["detail"]
        accepted = await official.patch(
            url, json={"response": "accepted", "owner": "Dr. Weber", "comment": "agreed by council"}, headers={"If-Match": etag}
        )
        assert accepted.status_code == 200, accepted.text
        stale = await official.patch(url, json={"implementation_status": "in_progress"}, headers={"If-Match": etag})
        assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"
        fresh = accepted.headers["etag"]
        progressing = await official.patch(url, json={"implementation_status": "in_progress"}, headers={"If-Match": fresh})
        assert progressing.json()["implementation_status"] == "in_progress"
        verified = await lead.post(f"{url}/verification", json={"verification": "verified"})
        assert verified.json()["verification"] == "verified"
        done = await official.patch(
            url, json={"implementation_status": "implemented"}, headers={"If-Match": verified.headers["etag"]}
        )
        assert done.json()["verification"] == "unverified", "a city's change resets the verification"
        evidence = await official.post(
            f"{url}/evidence", json={"title": "Agency statutes", "url": "https://leipzig.de/agency", "public": True}
        )
        assert evidence.status_code == 201
        history = [(h["field"], h["old"], h["new"]) for h in (await lead.get(f"{url}/history")).json()]
        assert ("response", "pending", "accepted") in history and ("owner", None, "Dr. Weber") in history
        assert ("verification", "verified", "unverified") in history and ("evidence", None, "Agency statutes") in history
        types = [
            dict(r.headers)["ce_type"].decode().split(".")[3] for r in await read_topic(env.kafka, env.topic("evaluations"), 6)
        ]
        assert (
            types.count("response_recorded") == 1
            and types.count("status_changed") == 2
            and "verified" in types
            and "evidence_added" in types
        )


@pytest.mark.parametrize(
    ("path", "body", "status", "detail"),
    [
        ("", {"implementation_status": "finished"}, 422, "implementation_status"),
        ("", {"implementation_status": "implemented"}, 409, "cannot go from not_started to implemented"),
        ("", {"response": "rejected"}, 422, "justification"),
        ("", {"planned_completion": "next spring"}, 422, "planned_completion"),
        ("", {"planned_completion": "2025-13-45"}, 422, "planned_completion"),
        ("/evidence", {"title": "x", "url": "not a url"}, 422, "url"),
        ("/evidence", {"title": "x", "url": "ftp://files.example/x"}, 422, "url"),
        ("/evidence", {"title": "x"}, 422, "needs a `url`"),
    ],
)
async def test_bad_updates_are_clear_problems_and_change_nothing(
    env: Env, path: str, body: dict[str, Any], status: int, detail: str
) -> None:
    app = create_app(env.settings(Settings))
    async with running(app):
        _, official, followup = await open_followup(env, app)
        url = f"/follow-ups/{followup['id']}"
        before = await official.get(url)
        answer = await official.request(
            "PATCH" if not path else "POST", url + path, json=body, headers={"If-Match": before.headers["etag"]}
        )
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json" and detail in answer.json()["detail"]
        after = await official.get(url)
        assert after.json() == before.json() and after.headers["etag"] == before.headers["etag"]
        assert (await official.get(url + "/evidence")).json() == []


async def test_as_of_replays_a_hand_checked_history(env: Env) -> None:
    settings = env.settings(Settings)
    app = create_app(settings)
    async with running(app):
        lead, official, followup = await open_followup(env, app, due=date(2030, 6, 1))
        url = f"/follow-ups/{followup['id']}"
        etag = (await official.get(url)).headers["etag"]
        for body in ({"response": "accepted"}, {"implementation_status": "planned"}, {"implementation_status": "in_progress"}):
            etag = (await official.patch(url, json=body, headers={"If-Match": etag})).headers["etag"]
        # Backdate the history into a known calendar: opened 1 March, accepted+planned 10 March, in progress 20 March.
        engine = make_engine(settings.database_url)
        async with engine.begin() as conn:
            days = {
                "opened": "2026-03-01",
                "due_date": "2026-03-01",
                "response": "2026-03-10",
                "planned": "2026-03-10",
                "in_progress": "2026-03-20",
            }
            for key, day in days.items():
                column = "new" if key in ("planned", "in_progress") else "field"
                await conn.execute(
                    text(f"UPDATE followup_history SET at = :at WHERE {column} = :key"),
                    {"at": datetime.fromisoformat(day + "T12:00:00+00:00"), "key": key},
                )
        await engine.dispose()

        async def status_on(day: str) -> dict[str, int] | None:
            groups = (await lead.get("/progress", params={"by": "city", "as_of": day})).json()["groups"]
            return groups[0]["by_status"] if groups else None

        assert await status_on("2026-02-28") is None  # not opened yet
        assert (await status_on("2026-03-05"))["not_started"] == 1
        on_15th = await status_on("2026-03-15")
        assert on_15th["planned"] == 1 and on_15th["not_started"] == 0
        assert (await status_on("2026-03-25"))["in_progress"] == 1
        assert (await lead.get("/progress", params={"by": "dimension"})).json()["groups"][0]["key"] == "setting"

        # the timeline's points, found in one walk through the history, are what `progress` counts on
        # their days, for the lead partner (every city) and a city official (theirs): with Leipzig's
        # follow-up implemented today and one of Lyon's opened today
        etag = (await official.get(url)).headers["etag"]
        done = await official.patch(url, json={"implementation_status": "implemented"}, headers={"If-Match": etag})
        assert done.status_code == 200, done.text
        await open_followup(env, app, city="lyon")
        today = datetime.now(UTC).date()
        months = (today.year - 2026) * 12 + today.month - 3 + 1  # March 2026 to this month, one point each
        for reader in (lead, official):
            points = (await reader.get("/progress/timeline")).json()["points"]
            assert len(points) == months and points[0]["month"] == "2026-03" and points[-1]["as_of"] == today.isoformat()
            for point in points:
                groups = (await reader.get("/progress", params={"by": "city", "as_of": point["as_of"]})).json()["groups"]
                counted = (sum(g["total"] for g in groups), sum(g["by_status"].get("implemented", 0) for g in groups))
                assert (point["total"], point["implemented"]) == counted, point
        leipzig = (await official.get("/progress/timeline")).json()["points"]
        assert [(p["total"], p["implemented"]) for p in (leipzig[0], leipzig[-1])] == [(1, 0), (1, 1)]  # by hand
        assert (await lead.get("/progress/timeline")).json()["points"][-1]["total"] == 2  # Lyon's too


async def test_overdue_is_emitted_once_per_deadline_with_two_schedulers(env: Env) -> None:
    settings = env.settings(Settings, deadline_check_interval_s=3600)
    app = create_app(settings)
    async with running(app):
        lead, _, overdue = await open_followup(env, app, due=date(2020, 1, 1))
        _, _, soon = await open_followup(env, app, due=datetime.now(UTC).date() + timedelta(days=3))
        engine = make_engine(settings.database_url, pool_size=4)
        sessions = make_session_factory(engine)
        sink = app.state.runtime

        async def one_instance() -> int:
            async with sessions() as session:
                return await check_deadlines(session, sink, datetime.now(UTC).date(), settings.due_soon_days)

        # The service's own scheduler ticked once at start; two more "instances" now race, three times over.
        for _ in range(3):
            await asyncio.gather(one_instance(), one_instance())
        today = datetime.now(UTC).date()
        window = timedelta(days=settings.due_soon_days)
        async with sessions() as session:  # a tick after them reads nothing: every notice is sent
            assert await repository.due_candidates(session, today, today + window) == []
            # but a deadline that calls for another notice is a candidate again: due soon turned overdue…
            later = today + timedelta(days=4)
            assert [f.id for f, _ in await repository.due_candidates(session, later, later + window)] == [uuid.UUID(soon["id"])]
            # …and a due date moved (a revised recommendation's) is a new deadline
            await session.execute(text("UPDATE followup SET due_date = '2021-01-01' WHERE id = :f"), {"f": overdue["id"]})
            assert [f.id for f, _ in await repository.due_candidates(session, today, today + window)] == [
                uuid.UUID(overdue["id"])
            ]
            await session.rollback()
        await engine.dispose()
        events = await read_topic(env.kafka, env.topic("evaluations"), 4)
        kinds = [(r.key.decode(), dict(r.headers)["ce_type"].decode().split(".")[3]) for r in events]
        assert kinds.count((overdue["id"], "overdue")) == 1 and kinds.count((soon["id"], "due_soon")) == 1
        assert (await lead.get("/follow-ups", params={"overdue": True})).json()["items"][0]["id"] == overdue["id"]
        # the answers carry the same rules' marks: what the event announced, each follow-up says
        marks = {f["id"]: (f["overdue"], f["due_soon"]) for f in (await lead.get("/follow-ups")).json()["items"]}
        assert marks[overdue["id"]] == (True, False) and marks[soon["id"]] == (False, True)


async def test_poison_message_is_dead_lettered_and_the_next_is_processed(env: Env) -> None:
    app = create_app(env.settings(Settings))
    rec_id = uuid.uuid4()
    good = issued(rec_id)
    key, value, headers = good.to_kafka()
    unknown_version = [(k, b"eu.clusnet.recommendation.issued.v7" if k == "ce_type" else v) for k, v in headers]
    async with running(app), await env.client(app, "lead_partner") as lead:
        # same key as the good one: same partition, so "the partition moves on" is what is tested
        await produce(
            env.kafka,
            env.topic("recommendations"),
            [(key, b"{garbage", headers), (key, value, unknown_version), (key, value, headers)],
        )
        [followup] = await eventually(lambda: followups(lead), what="the follow-up after the poison messages")
        assert followup["recommendation_id"] == str(rec_id)
        # a handled type that cannot be decoded is dead-lettered; a version this service does not know
        # is skipped unread (a producer may add versions: see test_forward_compat.py)
        dead = await read_topic(env.kafka, env.topic("recommendations") + ".dlq", 1)
        assert len(dead) == 1 and "body is not JSON" in dict(dead[0].headers)["dlq_error"].decode()
        assert dict(dead[0].headers)["dlq_group"] == b"evaluations"
        assert app.state.runtime.consumers[0].progress.skipped == 1


async def test_the_overdue_filter_and_the_overdue_flag_agree(env: Env) -> None:
    """workflow.is_overdue (the flag in each answer, progress) and repository.overdue_on (the query
    filter) state one rule twice: past due, open, unfinished. They must select the same follow-ups."""
    app = create_app(env.settings(Settings))
    past, future = date(2020, 1, 1), date(2099, 1, 1)
    ids = {name: uuid.uuid4() for name in ("late", "finished", "not_yet", "undated", "withdrawn")}
    dues = {"late": past, "finished": past, "not_yet": future, "undated": None, "withdrawn": past}
    events = [issued(ids[n], due=dues[n]) for n in ids]
    withdrawn = RecommendationWithdrawn(recommendation=state(ids["withdrawn"], 2, "withdrawn", due=past), reason="x", actor=LEAD)
    events.append(Event.of(withdrawn, source="/test", subject=str(ids["withdrawn"])))
    async with running(app), await env.client(app, "lead_partner") as lead:
        await produce(env.kafka, env.topic("recommendations"), [e.to_kafka() for e in events])
        everything = await eventually(lambda: _closed_count(lead, 5), what="five follow-ups, one closed")
        finished = next(f for f in everything if f["recommendation_id"] == str(ids["finished"]))
        async with await env.client(app, "city_official", "leipzig") as official:
            for status in ("planned", "implemented"):
                url = f"/follow-ups/{finished['id']}"
                etag = (await official.get(url)).headers["etag"]
                answer = await official.patch(url, json={"implementation_status": status}, headers={"If-Match": etag})
                assert answer.status_code == 200, answer.text
        flagged = {f["recommendation_id"] for f in await followups(lead) if f["overdue"]}
        filtered = {f["recommendation_id"] for f in await followups(lead, overdue=True)}
        not_filtered = {f["recommendation_id"] for f in await followups(lead, overdue=False)}
    assert flagged == filtered == {str(ids["late"])}
    assert not_filtered == {str(ids[n]) for n in ("finished", "not_yet", "undated", "withdrawn")}


async def _closed_count(client: httpx.AsyncClient, total: int) -> list[dict[str, Any]] | None:
    items = await followups(client)
    return items if len(items) == total and sum(f["closed"] for f in items) == 1 else None
