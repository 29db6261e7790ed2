"""A direct Kafka consumer of CLUSNET's events, as an integration would write it (a city's own
project database, a regional dashboard). Standalone: aiokafka and the standard library only.

    python examples/kafka_consumer.py --bootstrap kafka.example:9092 --group leipzig-projectdb \\
        --db projects.sqlite

What it shows (docs/integrations.md says why):
- its own consumer group (`<organisation>-<purpose>`): the group's committed offsets are where it
  resumes; a new group name reads everything again from the beginning;
- offsets committed only after the effect is stored, so a crash means a redelivery, never a loss;
- idempotency by the CloudEvents id (`ce_id` header), stored in the same SQLite transaction as the
  effect, so a redelivered or replayed event changes nothing;
- order per aggregate: events are keyed by the aggregate id, one key is one partition, so one
  recommendation's events arrive in order; across recommendations there is no order to rely on;
- forward compatibility: it acts on the types it knows and skips the others (new types and
  versions appear without notice), and it ignores payload fields it does not know.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

KNOWN = {  # the types this integration acts on; anything else is skipped
    "eu.clusnet.recommendation.issued.v1",
    "eu.clusnet.recommendation.revised.v1",
    "eu.clusnet.recommendation.withdrawn.v1",
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_event (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS recommendation (
    id TEXT PRIMARY KEY, version INTEGER NOT NULL, status TEXT NOT NULL, city TEXT NOT NULL, title TEXT NOT NULL
);
"""


def headers_of(record: ConsumerRecord[Any, Any]) -> dict[str, str]:
    return {key: value.decode() for key, value in record.headers}


def apply(db: sqlite3.Connection, record: ConsumerRecord[Any, Any]) -> bool:
    """Store the event's effect and its id in one transaction; False when skipped or seen before."""
    headers = headers_of(record)
    if headers.get("ce_type") not in KNOWN:
        return False
    with db:  # one transaction: the effect and the id it came from
        if db.execute("INSERT OR IGNORE INTO seen_event (id) VALUES (?)", (headers["ce_id"],)).rowcount == 0:
            return False  # a redelivery or a replay: already applied
        rec = json.loads(record.value)["recommendation"]
        db.execute(
            """INSERT INTO recommendation (id, version, status, city, title) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET version = excluded.version, status = excluded.status,
                   title = excluded.title
               WHERE excluded.version >= recommendation.version""",
            (rec["id"], rec["version"], rec["status"], rec["target_city"], rec["title"]),
        )
    return True


async def consume(bootstrap: str, prefix: str, group: str, db_path: str, exit_when_idle_s: float | None) -> int:
    db = sqlite3.connect(db_path)
    db.executescript(SCHEMA)
    consumer = AIOKafkaConsumer(
        f"{prefix}.recommendations",
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,  # commit after the effect, never before
        auto_offset_reset="earliest",  # a new group starts at the beginning: nothing is missed
        isolation_level="read_committed",
    )
    await consumer.start()
    applied, last_activity = 0, time.monotonic()
    try:
        while exit_when_idle_s is None or time.monotonic() - last_activity < exit_when_idle_s:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                applied += sum(apply(db, record) for record in records)
                last_activity = time.monotonic()
            if batches:
                await consumer.commit()  # only now: the effects above are stored
    finally:
        await consumer.stop()
        db.close()
    return applied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--prefix", default="clusnet", help="the topic prefix (clusnet)")
    parser.add_argument("--group", required=True, help="your consumer group, e.g. leipzig-projectdb")
    parser.add_argument("--db", default="clusnet-events.sqlite")
    parser.add_argument("--exit-when-idle", type=float, default=None, help="stop after this many idle seconds")
    args = parser.parse_args()
    applied = asyncio.run(consume(args.bootstrap, args.prefix, args.group, args.db, args.exit_when_idle))
    print(f"applied {applied} event(s)")


if __name__ == "__main__":
    main()
