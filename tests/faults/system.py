"""The whole system as real processes for the fault harness: PostgreSQL, Kafka, three APIs
(RUN_WORKERS=false) and two `clusnet worker` processes per service in the same consumer groups,
all supervised (a killed process is restarted, as systemd or Kubernetes would), a webhook
receiver on loopback that can go down, and TCP fault proxies between one evaluations worker and
Kafka / PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

import asyncpg
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from provision.kafka import KafkaProcess
from provision.postgres import PostgresProcess
from provision.processes import SERVICES, ServiceProcess, launch_service, launch_worker, service_env, wait_ready
from provision.supervisor import Supervisor
from shared.platform.db import with_database
from tests.faults.proxy import FaultProxy

PROXIED_WORKER = "evaluations-worker-1"
_taken: set[int] = set()


def quiet_port() -> int:
    """A free port below Linux's ephemeral range (32768+), where outgoing connections take their
    local ports: a port chosen early and bound later cannot be taken meanwhile by one of them."""
    rng = random.Random()
    while True:
        port = rng.randint(20000, 32000)
        if port in _taken:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        return port  # the one whose Kafka and PostgreSQL connections go through the proxies


PARTITIONS = 6


class Receiver:
    """Webhook receiver on loopback: records every webhook-id it is sent; can be taken down, or
    made to hang (it takes requests and answers none until told to)."""

    def __init__(self) -> None:
        self.port = quiet_port()
        self.received: list[str] = []  # webhook-id of every request, repeats included
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._hanging: asyncio.Event | None = None  # set: answer again

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _endpoint(self, request: Request) -> Response:
        await request.body()
        self.received.append(request.headers.get("webhook-id", ""))
        if self._hanging is not None:
            await self._hanging.wait()
        return Response(status_code=204)

    def hang(self) -> None:
        self._hanging = asyncio.Event()

    def answer(self) -> None:
        if self._hanging is not None:
            self._hanging.set()
            self._hanging = None

    async def up(self) -> None:
        app = Starlette(routes=[Route("/hook", self._endpoint, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.02)

    async def down(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None


class ChaosSystem:
    def __init__(self, workdir: Path, say: Callable[[str], None] = print) -> None:
        self.workdir = workdir
        self.say = say
        self.prefix = f"chaos{uuid.uuid4().hex[:6]}"
        self.events: list[str] = []  # what the supervisor said
        self.supervisor = Supervisor(say=self._note)
        self.ports = {name: quiet_port() for name in SERVICES}
        self.kafka_listen, self.kafka_proxy = quiet_port(), FaultProxy(0, port=quiet_port())
        self.receiver = Receiver()
        self._stop_watch = threading.Event()
        self._watcher: threading.Thread | None = None
        self.worker_count = dict.fromkeys(SERVICES, 0)
        self.killed: set[int] = set()
        self.worker_ports: dict[str, int] = {}  # each worker's /readyz and /metrics  # pids the harness SIGKILLed on purpose

    def _note(self, line: str) -> None:
        self.events.append(f"{time.strftime('%H:%M:%S')} {line}")
        self.say(line)

    async def start(self) -> None:
        self.pg = PostgresProcess(port=quiet_port())
        self.kafka = KafkaProcess(port=quiet_port(), proxied=(self.kafka_listen, self.kafka_proxy.port))
        await asyncio.gather(asyncio.to_thread(self.pg.start), asyncio.to_thread(self.kafka.start))
        self.kafka_proxy.upstream = ("127.0.0.1", self.kafka_listen)
        self.pg_proxy = FaultProxy(self.pg.port, port=quiet_port())
        await self.kafka_proxy.start()
        await self.pg_proxy.start()
        await self.receiver.up()
        self.apis: dict[str, ServiceProcess] = {}
        for name in SERVICES:
            log = self.workdir / f"{name}.log"
            api = self.supervisor.start(name, partial(launch_service, name, self.ports[name], self.env(name, api=True), log))
            self.apis[name] = ServiceProcess(name=name, port=self.ports[name], process=api.process, log=log)
        await asyncio.to_thread(wait_ready, list(self.apis.values()), 120)  # topics and migrations exist now
        for name in SERVICES:
            for _ in range(2):
                self.add_worker(name)
        await self.wait_workers()
        self._watcher = threading.Thread(target=self.supervisor.watch, args=(self._stop_watch, 0.25), daemon=True)
        self._watcher.start()

    def env(self, name: str, *, api: bool = False, proxied: bool = False) -> dict[str, str]:
        kafka = f"127.0.0.1:{self.kafka_proxy.port}" if proxied else self.kafka.bootstrap
        pg = f"postgresql+asyncpg://postgres@127.0.0.1:{self.pg_proxy.port}/postgres" if proxied else self.pg.url
        settings = {
            "TOPIC_PREFIX": self.prefix,
            "TOPIC_PARTITIONS": str(PARTITIONS),
            "LOG_JSON": "false",
            "RELAY_POLL_INTERVAL_S": "0.1",
            "DISPATCH_INTERVAL_S": "0.2",
            "RETRY_BASE_S": "1",
            "RETRY_CAP_S": "5",
            "MAX_ATTEMPTS": "50",  # the receiver is down for minutes in the long run: deliveries must outlive it
            "WEBHOOK_TIMEOUT_S": "5",
            "AUTH_CACHE_S": "30",
            "SMTP_PORT": str(quiet_port()),
            **({"RUN_WORKERS": "false"} if api else {}),
        }
        return service_env(name, kafka, pg, self.prefix, **settings)

    def add_worker(self, name: str) -> str:
        self.worker_count[name] += 1
        worker = f"{name}-worker-{self.worker_count[name]}"
        log = self.workdir / f"{worker}.log"
        self.worker_ports[worker] = quiet_port()
        env = self.env(name, proxied=worker == PROXIED_WORKER)
        self.supervisor.start(worker, partial(launch_worker, name, env, log, self.worker_ports[worker]))
        return worker

    async def wait_workers(self, timeout_s: float = 180.0) -> None:
        """Wait until every worker answers /readyz with 200 (for a consumer: it polled and has partitions)."""
        deadline = time.monotonic() + timeout_s
        waiting = list(self.worker_ports)
        async with httpx.AsyncClient(timeout=3) as http:
            while waiting and time.monotonic() < deadline:
                for worker in list(waiting):
                    try:
                        if (await http.get(f"http://127.0.0.1:{self.worker_ports[worker]}/readyz")).status_code == 200:
                            waiting.remove(worker)
                    except httpx.HTTPError:
                        pass
                await asyncio.sleep(0.5)
        if waiting:
            raise RuntimeError(f"workers not ready after {timeout_s}s: {waiting}")

    def workers(self, name: str) -> list[str]:
        return [w for w in self.supervisor.children if w.startswith(f"{name}-worker-")]

    def kill(self, child: str) -> int:
        pid = self.supervisor.children[child].pid
        self.killed.add(pid)
        os.kill(pid, signal.SIGKILL)
        return pid

    def unexpected_exits(self) -> list[str]:
        """Processes that exited although nobody killed them (a crash the supervisor papered over)."""
        return [f"{name} pid {pid} exit {code}" for name, pid, code in self.supervisor.exits if pid not in self.killed]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def database(self, name: str) -> str:
        return with_database(self.pg.url, f"{self.prefix}_{name}").replace("+asyncpg", "")

    async def relay_holder(self, name: str, timeout_s: float = 10.0) -> str | None:
        """The worker of `name` holding the outbox relay's lock right now (mid-publish), if caught."""
        pids = {self.supervisor.children[w].pid: w for w in self.workers(name)}
        conn = await asyncpg.connect(self.database(name))
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                ports = await conn.fetch(
                    "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()"
                )
                for row in ports:
                    if (owner := _pid_of_local_port(row["client_port"], list(pids))) is not None:
                        return pids[owner]
                await asyncio.sleep(0.005)
        finally:
            await conn.close()
        return None

    async def stop(self) -> None:
        """Stop whatever was started (also after a start that failed half-way)."""
        self._stop_watch.set()
        if self._watcher is not None:
            await asyncio.to_thread(self._watcher.join)
        await asyncio.to_thread(self.supervisor.stop_all)
        await self.receiver.down()
        await self.kafka_proxy.stop()
        if hasattr(self, "pg_proxy"):
            await self.pg_proxy.stop()
        if hasattr(self, "kafka"):
            await asyncio.to_thread(self.kafka.remove)
        if hasattr(self, "pg"):
            await asyncio.to_thread(self.pg.remove)


def _pid_of_local_port(port: int | None, pids: list[int]) -> int | None:
    """Which of `pids` owns the TCP socket whose local port is `port` (Linux /proc)."""
    if port is None:
        return None
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) in inodes:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None
