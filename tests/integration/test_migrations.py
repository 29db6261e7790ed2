"""Migrations on a real PostgreSQL: an outbox row still waiting when the serialized-message
migration runs is published afterwards as the very same event (and the step can be undone)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from shared.contracts.envelope import Event
from shared.platform.db import ensure_database, make_engine, with_database
from shared.platform.migrate import alembic_config
from tests.factories import issued

pytestmark = pytest.mark.services
BEFORE = {"recommendations": "eb6c96fbb6dc", "evaluations": "b41d0c7e2f10", "notifications": "a6538b0ee7ef"}


@pytest.mark.parametrize("service", list(BEFORE))
async def test_waiting_outbox_rows_survive_the_serialization_migration(pg_server: str, service: str) -> None:
    db = with_database(pg_server, f"mig{uuid.uuid4().hex[:8]}")
    await ensure_database(db)
    config = alembic_config(db, Path(__file__).resolve().parents[2] / "services" / service / "migrations")
    await asyncio.to_thread(command.upgrade, config, BEFORE[service])
    event = issued()
    engine = make_engine(db)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO outbox (topic, key, event_id, event_type, event, created_at) "
                "VALUES ('t', :k, :i, :ty, CAST(:e AS json), now())"
            ),
            {"k": event.subject, "i": event.id, "ty": event.type, "e": json.dumps(event.model_dump(mode="json"))},
        )
    await asyncio.to_thread(command.upgrade, config, "head")
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT key, headers, value FROM outbox"))).one()
    assert row.key == event.subject
    assert Event.from_kafka([(k, v.encode()) for k, v in row.headers.items()], bytes(row.value)) == event
    await asyncio.to_thread(command.downgrade, config, BEFORE[service])
    async with engine.connect() as conn:
        assert Event.model_validate((await conn.execute(text("SELECT event FROM outbox"))).scalar_one()) == event
    await engine.dispose()


@pytest.mark.parametrize(
    ("service", "before", "table"),
    [
        ("recommendations", "c1a2e3f40001", "cluster_link"),
        ("evaluations", "c1a2e3f40002", "cluster_link_evidence"),
    ],
)
async def test_the_link_migrations_can_be_undone_and_redone(pg_server: str, service: str, before: str, table: str) -> None:
    db = with_database(pg_server, f"mig{uuid.uuid4().hex[:8]}")
    await ensure_database(db)
    config = alembic_config(db, Path(__file__).resolve().parents[2] / "services" / service / "migrations")
    engine = make_engine(db)

    async def has_table() -> bool:
        async with engine.connect() as conn:
            return bool((await conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table})).scalar())

    await asyncio.to_thread(command.upgrade, config, "head")
    assert await has_table()
    await asyncio.to_thread(command.downgrade, config, before)
    assert not await has_table()
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await has_table()
    await engine.dispose()


async def test_history_entries_written_before_learn_their_evidence(pg_server: str) -> None:
    """The entries that added evidence before `evidence_id` existed get it from the title they
    recorded; of two items with one title, the private one (so the entry stays hidden)."""
    db = with_database(pg_server, f"mig{uuid.uuid4().hex[:8]}")
    await ensure_database(db)
    config = alembic_config(db, Path(__file__).resolve().parents[2] / "services" / "evaluations" / "migrations")
    await asyncio.to_thread(command.upgrade, config, "a7c3e9f10002")
    followup, public, private, twin, plan, later_plan = (uuid.uuid4() for _ in range(6))
    engine = make_engine(db)
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))  # rows without their follow-up
        for evidence_id, title, is_public, hours_ago in (
            (public, "Council decision", True, 0),
            (private, "Budget memo", False, 0),
            (twin, "Council decision", False, 0),  # the same title at the same time: taken as the private one
            (plan, "Site plan", True, 2),  # the same title at other times: each entry its own item
            (later_plan, "Site plan", False, 1),
        ):
            await conn.execute(
                text(
                    "INSERT INTO evidence (id, followup_id, title, public, added_by, added_at) "
                    "VALUES (:i, :f, :t, :p, 'x', now() - make_interval(hours => :h))"
                ),
                {"i": evidence_id, "f": followup, "t": title, "p": is_public, "h": hours_ago},
            )
        for field, new, hours_ago in (
            ("evidence", "Council decision", 0),
            ("evidence", "Budget memo", 0),
            ("evidence", "Gone", 0),
            ("owner", "Anna", 0),
            ("evidence", "Site plan", 2),
            ("evidence", "Site plan", 1),
        ):
            await conn.execute(
                text(
                    "INSERT INTO followup_history (followup_id, at, actor_id, actor_role, field, new) "
                    "VALUES (:f, now() - make_interval(hours => :h), 'x', 'y', :d, :n)"
                ),
                {"f": followup, "d": field, "n": new, "h": hours_ago},
            )
    await asyncio.to_thread(command.upgrade, config, "head")
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT new, evidence_id FROM followup_history ORDER BY id"))).all()
    assert [tuple(r) for r in rows] == [
        ("Council decision", twin),
        ("Budget memo", private),
        ("Gone", None),
        ("Anna", None),
        ("Site plan", plan),
        ("Site plan", later_plan),
    ]
    await asyncio.to_thread(command.downgrade, config, "a7c3e9f10002")
    await engine.dispose()
