"""`clusnet replay`: an integration that lost its data gets a topic's events again, from a time or
an offset, into a file (one CloudEvent in JSON per line) or POSTed to its URL (signed as our
webhooks are, when given the subscription's secret). It reads Kafka as the feed does
(feed.FeedReader), up to the end of the topic as it was when the replay began."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from services.notifications import channels, feed, rules
from shared.platform.settings import ServiceSettings

PAGE = 500


def parse_start(text: str) -> datetime | int:
    """`beginning`, an offset (every partition starts there) or an ISO 8601 time."""
    if text == "beginning":
        return 0
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"--from takes 'beginning', an offset or an ISO 8601 time, not {text!r}") from exc
    if when.tzinfo is None:
        raise ValueError("--from: give the time with its zone, e.g. 2026-11-01T00:00:00+00:00")
    return when


async def replay(
    settings: ServiceSettings,
    stream: str,
    start: datetime | int,
    to: str,
    secret: str | None = None,
    types: list[str] | None = None,
) -> int:
    """Replay `stream` from `start` into `to` (a file path or an http(s) URL); answer how many events."""
    cursor = feed.Cursor()
    # Everything, as the topic and the webhooks carry it: the replay is the admin's (`clusnet replay`)
    wanted = feed.FeedFilter(types=frozenset(types or ()), private_evidence=True)
    reader = feed.FeedReader(settings.kafka_bootstrap_servers, settings.topic_prefix, [stream], cursor, wanted)
    sent = 0
    async with reader, httpx.AsyncClient(timeout=30) as http:
        if isinstance(start, datetime):
            await reader.seek_to_time(start)
        else:
            for tp in reader.ends:
                reader.consumer.seek(tp, start)
                cursor.offsets[(stream, tp.partition)] = start
        while not reader.at_end():
            items = await reader.page(PAGE)
            if not items:
                break
            if to.startswith(("http://", "https://")):
                for item in items:
                    await _post(http, to, item, secret)
            else:
                lines = "".join(json.dumps(item, separators=(",", ":")) + "\n" for item in items)
                await asyncio.to_thread(_append, Path(to), lines)
            sent += len(items)
    return sent


def _append(path: Path, text: str) -> None:
    with path.open("a") as out:
        out.write(text)


async def _post(http: httpx.AsyncClient, url: str, item: dict[str, Any], secret: str | None) -> None:
    body = json.dumps(item, separators=(",", ":")).encode()
    headers = {"Content-Type": channels.STRUCTURED_MODE}
    if secret:
        message_id, stamp = f"replay_{item['id']}", int(time.time())  # the same for every replay of the event
        headers |= {
            "webhook-id": message_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": rules.sign(secret, message_id, stamp, body),
        }
    (await http.post(url, content=body, headers=headers)).raise_for_status()
