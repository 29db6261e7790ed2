"""What an integration uses besides the feed, on real Kafka: the example direct consumer in
examples/ (its own group, idempotent by ce_id, commits after the effect, skips unknown types), and
`clusnet replay` into a file or to a URL, from the beginning or from a time."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.notifications import rules
from services.notifications.config import Settings
from services.notifications.replay import replay
from shared.contracts.envelope import Event
from shared.contracts.recommendations import RecommendationRevised
from shared.platform.kafka import ensure_topics
from tests.factories import LEAD, issued, recommendation
from tests.integration.test_forward_compat import foreign
from tests.receivers import webhook_receiver
from tests.support import Env, produce

pytestmark = pytest.mark.services
ROOT = Path(__file__).resolve().parents[2]


def revised(rec_id: uuid.UUID, version: int) -> Event:
    payload = RecommendationRevised(
        recommendation=recommendation(rec_id, version=version, status="revised"), reason="sharper", actor=LEAD
    )
    return Event.of(payload, source="/test", subject=str(rec_id))


def run_example(env: Env, group: str, db: Path) -> str:
    command = [sys.executable, "examples/kafka_consumer.py", "--bootstrap", env.kafka, "--prefix", env.prefix]
    command += ["--group", group, "--db", str(db), "--exit-when-idle", "3"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120).stdout.strip()


async def test_the_example_consumer_applies_each_event_once_and_skips_what_it_does_not_know(env: Env, tmp_path: Path) -> None:
    await ensure_topics(env.kafka, env.prefix)
    a, b = uuid.uuid4(), uuid.uuid4()
    second = revised(a, 2)
    events = [issued(a), second, issued(b, city="lyon")]
    messages = [e.to_kafka() for e in events] + [second.to_kafka()]  # the same event twice
    messages.append(foreign("eu.clusnet.recommendation.archived.v1", str(a), {"x": 1}))
    await produce(env.kafka, env.topic("recommendations"), messages)
    db = tmp_path / "projects.sqlite"
    assert await asyncio.to_thread(run_example, env, "leipzig-projectdb", db) == "applied 3 event(s)"
    assert await asyncio.to_thread(run_example, env, "leipzig-projectdb", db) == "applied 0 event(s)"  # resumes
    assert await asyncio.to_thread(run_example, env, "leipzig-replay", db) == "applied 0 event(s)"  # new group: all seen
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT id, version FROM recommendation").fetchall())
    assert rows == {str(a): 2, str(b): 1}


async def test_replay_into_a_file_and_to_a_signed_url(env: Env, tmp_path: Path) -> None:
    await ensure_topics(env.kafka, env.prefix)
    early = [issued() for _ in range(5)]
    await produce(env.kafka, env.topic("recommendations"), [e.to_kafka() for e in early])
    await asyncio.sleep(1.0)
    since = datetime.now(UTC)
    late = [issued() for _ in range(3)]
    await produce(env.kafka, env.topic("recommendations"), [e.to_kafka() for e in late])
    settings = Settings(kafka_bootstrap_servers=env.kafka, topic_prefix=env.prefix)

    everything = tmp_path / "all.jsonl"
    assert await replay(settings, "recommendations", 0, str(everything)) == 8
    lines = [json.loads(line) for line in everything.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(str(e.id) for e in early + late)
    assert all(line["specversion"] == "1.0" and line["data"]["recommendation"] for line in lines)

    secret = rules.new_webhook_secret()
    async with webhook_receiver() as receiver:
        assert await replay(settings, "recommendations", since, receiver.url, secret=secret) == 3
    got = [json.loads(body)["id"] for _, body in receiver.requests]
    assert sorted(got) == sorted(str(e.id) for e in late)
    assert all(rules.verify_signature(secret, headers, body) for headers, body in receiver.requests)
