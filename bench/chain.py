"""Row 4's chain as production runs it: each service an API process (`clusnet serve`,
RUN_WORKERS=false) and a `clusnet worker`, a webhook receiver subscribed to `recommendation.issued`,
and a lean HTTP client issuing drafts. Shared by the end-to-end rows and the stages row
(bench/stages.py)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import cpu_of, pids_named, rss_mb
from bench.services import LOGS, WORKER_NICE, drafts, start, token
from provision.processes import ServiceProcess, launch_worker, service_env
from provision.system import stop_process
from services.recommendations.config import Settings as RecommendationsSettings
from shared.platform import auth
from shared.platform.db import with_database
from tests.receivers import Receiver, webhook_receiver


@dataclass
class Chain:
    """The running chain: its processes by part name, the receiver, the client, the drafts to issue."""

    pids: dict[str, int]  # "<service> api" and "<service> worker"
    receiver: Receiver
    client: LeanClient
    drafts: list[str]


@asynccontextmanager
async def running_chain(kafka: str, pg: str, prefix: str, count: int) -> AsyncIterator[Chain]:
    """The chain on topic and database prefix `prefix`, with `count` drafts ready to issue, once
    one warm-up issue has gone through it all (the workers' consumers have joined their groups)."""
    rec_settings = RecommendationsSettings(
        database_url=with_database(pg, f"{prefix}_recommendations"),
        auth_database_url=with_database(pg, f"{prefix}_auth"),
        kafka_bootstrap_servers=kafka,
        topic_prefix=prefix,
    )
    warm_up, *ids = await drafts(rec_settings, 1 + count)
    workers: dict[str, subprocess.Popen[bytes]] = {}
    services: dict[str, ServiceProcess] = {}
    try:
        for name in ("recommendations", "evaluations", "notifications"):
            env = service_env(name, kafka, pg, prefix, TOPIC_PREFIX=prefix, LOG_LEVEL="WARNING")
            workers[name] = launch_worker(name, env, LOGS / f"{name}-worker.log", nice=WORKER_NICE)
            services[name] = start(name, kafka, pg, prefix, RUN_WORKERS="false")
        pids = {**{f"{n} api": s.process.pid for n, s in services.items()}, **{f"{n} worker": w.pid for n, w in workers.items()}}
        async with webhook_receiver() as receiver:
            await subscribe_webhook(services["notifications"], rec_settings.auth_database_url, receiver.url)
            lead = await token(rec_settings.auth_database_url, auth.Role.lead_partner)
            client = LeanClient("127.0.0.1", services["recommendations"].port, lead)
            assert await client.post(f"/recommendations/{warm_up}/issue") == 200
            await drain(receiver, {warm_up}, quiet_s=120)
            assert warm_up in arrivals(receiver), "the warm-up webhook never came"
            yield Chain(pids, receiver, client, ids)
    finally:
        for svc in services.values():
            svc.stop()
        for process in workers.values():
            stop_process(process)


def descendants() -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:  # gone meanwhile
                pass
    found: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


REUSE_IDLE_S = 4.0  # below uvicorn's keep-alive timeout (5 s), after which the server closes an idle socket


class LeanClient:
    """A minimal HTTP/1.1 client for the load: pre-built request bytes on kept-alive sockets, only
    the status line and Content-Length read back. httpx costs far more CPU per request, and the
    generator shares the 2 cores with the system it measures."""

    def __init__(self, host: str, port: int, bearer: str) -> None:
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {bearer}\r\nContent-Length: 0\r\n\r\n".encode()
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []  # with when it went idle
        self.errors: dict[str, int] = {}  # why requests failed without an answer

    async def post(self, path: str) -> int:
        """The answer's status (0 when no answer came). A kept-alive socket the server closed
        meanwhile (idle timeout) answers nothing at all: the request is sent again on a new one.
        A socket is not reused once the server may be closing it: a request written just as the
        server closes its side is answered by a reset, not an end of file (5 of 3,000 at 500/s)."""
        self._expire_idle()
        for attempt in (1, 2):
            reused = bool(self.idle) and attempt == 1
            try:
                reader, writer = self.idle.pop()[:2] if reused else await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                self._failed(exc)
                return 0
            try:
                writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\n" + self.head)
                status_line = await reader.readline()
                if not status_line and reused:
                    writer.close()
                    continue
                status = int(status_line.split(b" ", 2)[1])
                length, keep = 0, True
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                    elif name.lower() == b"connection" and b"close" in value.lower():
                        keep = False
                await reader.readexactly(length)
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
                writer.close()
                self._failed(exc)
                return 0
            if keep:
                self.idle.append((reader, writer, time.monotonic()))
            else:
                writer.close()
            return status
        return 0

    def _expire_idle(self) -> None:
        """Close the sockets idle for REUSE_IDLE_S or longer (the oldest are first in `idle`)."""
        now = time.monotonic()
        while self.idle and now - self.idle[0][2] >= REUSE_IDLE_S:
            self.idle.pop(0)[1].close()

    def _failed(self, exc: BaseException) -> None:
        self.errors[type(exc).__name__] = self.errors.get(type(exc).__name__, 0) + 1


async def drain(receiver: Receiver, accepted: set[str], quiet_s: float = 10.0, cap_s: float = 180.0) -> None:
    """Wait until every accepted issue's webhook arrived, or nothing has arrived for `quiet_s`
    (the lag has drained: what is missing now was never delivered), at most `cap_s`."""
    deadline, last_count, last_change = time.monotonic() + cap_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        arrived = arrivals(receiver)
        if accepted <= arrived.keys():
            return
        if len(arrived) != last_count:
            last_count, last_change = len(arrived), time.monotonic()
        elif time.monotonic() - last_change > quiet_s:
            return
        await asyncio.sleep(0.1)


def arrivals(receiver: Receiver) -> dict[str, float]:
    """Recommendation id → when its webhook arrived."""
    return {
        json.loads(body)["data"]["recommendation"]["id"]: at
        for (_, body), at in zip(receiver.requests, receiver.arrived_at, strict=False)
    }


def cpu_by_part(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each service process in `pids`, this run's PostgreSQL and Kafka,
    and this process (the load client, and in row 4 the webhook receiver): where a request's cost
    goes. PostgreSQL and Kafka are counted among this process's descendants only: other work on
    the machine may run its own (a backend that exited is in its postmaster's children time)."""
    ours = descendants()
    parts = {name: cpu_of([pid]) for name, pid in pids.items()}
    parts["postgresql"] = cpu_of([pid for pid in pids_named("postgres") if pid in ours])
    parts["kafka"] = cpu_of([pid for pid in pids_named("java") if pid in ours])
    parts["client"] = time.process_time()
    return parts


async def subscribe_webhook(notifications: ServiceProcess, auth_url: str, url: str) -> None:
    admin = {"Authorization": f"Bearer {await token(auth_url, auth.Role.admin)}"}
    async with httpx.AsyncClient(base_url=notifications.url, headers=admin) as c:
        person = (await c.post("/stakeholders", json={"name": "Bench", "email": "bench@clusnet.example"})).json()
        answer = await c.post(
            "/subscriptions",
            json={"stakeholder_id": person["id"], "channel": "webhook", "url": url, "event_types": ["recommendation.issued"]},
        )
        assert answer.status_code == 201, answer.text


async def open_loop(
    client: LeanClient, batch: list[str], rate: int, pids: dict[str, int], memory: dict[str, dict[str, float]]
) -> tuple[dict[str, float], dict[str, int], dict[str, float]]:
    """Issue one recommendation every 1/rate seconds, whatever the answers' speed (open loop);
    answer when each was sent, each answer's status and how long it took (ms)."""
    sent: dict[str, float] = {}
    answers: dict[str, int] = {}
    answered: dict[str, float] = {}

    async def issue(rec_id: str) -> None:
        answers[rec_id] = await client.post(f"/recommendations/{rec_id}/issue")
        answered[rec_id] = time.perf_counter()

    tasks = []
    started = time.perf_counter()
    for i, rec_id in enumerate(batch):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[rec_id] = time.perf_counter()
        tasks.append(asyncio.create_task(issue(rec_id)))
        if i % max(1, rate // 2) == 0:
            for name, pid in pids.items():
                memory[name]["peak_mb"] = max(memory[name]["peak_mb"], rss_mb(pid))
    await asyncio.gather(*tasks)
    return sent, answers, {i: (answered[i] - sent[i]) * 1000 for i in sent}
