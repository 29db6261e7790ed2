"""`make run`'s supervision, on real processes: the APIs with RUN_WORKERS=false and one
`clusnet worker` per service; a SIGKILLed worker or API is started again (and the console says
so), and the system works on through the new processes."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from provision.processes import ServiceProcess, wait_ready
from provision.run import start_supervised
from provision.supervisor import Supervisor
from provision.system import free_port
from tests.e2e.test_flow import client, issue_to_leipzig
from tests.support import Env, eventually

pytestmark = pytest.mark.services


@pytest.fixture
def supervised(env: Env, tmp_path: Path) -> Iterator[tuple[Supervisor, dict[str, ServiceProcess], list[str]]]:
    said: list[str] = []
    supervisor = Supervisor(say=said.append)
    ports = {name: free_port() for name in ("recommendations", "evaluations", "notifications")}
    extra = {"TOPIC_PREFIX": env.prefix, "LOG_JSON": "false", "RELAY_POLL_INTERVAL_S": "0.05", "SMTP_PORT": str(free_port())}
    stop = threading.Event()
    watcher = threading.Thread(target=supervisor.watch, args=(stop, 0.2), daemon=True)
    try:
        services = start_supervised(supervisor, env.kafka, env.pg_server, 1, tmp_path, ports, env.prefix, **extra)
        wait_ready(services)
        watcher.start()
        yield supervisor, {s.name: s for s in services}, said
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join()
        supervisor.stop_all()


async def test_killed_worker_and_api_are_restarted_and_work_goes_on(env: Env, supervised: tuple) -> None:
    supervisor, services, said = supervised
    assert set(supervisor.children) == {
        *services,
        "recommendations-worker-1",
        "evaluations-worker-1",
        "notifications-worker-1",
    }
    worker = supervisor.children["evaluations-worker-1"]
    old_pid = worker.pid
    os.kill(old_pid, signal.SIGKILL)

    async def restarted(name: str, pid: int) -> bool:
        return supervisor.children[name].pid != pid and any(f"{name} restarted" in line for line in said)

    await eventually(lambda: restarted("evaluations-worker-1", old_pid), timeout=20, what="the worker restarted")
    assert any(f"evaluations-worker-1 (pid {old_pid}) exited with code -9; restarting it" in line for line in said), said

    api = supervisor.children["recommendations"]
    api_pid = api.pid
    os.kill(api_pid, signal.SIGKILL)
    await eventually(lambda: restarted("recommendations", api_pid), timeout=20, what="the API restarted")

    async def api_ready() -> bool:
        try:
            async with httpx.AsyncClient(base_url=services["recommendations"].url, timeout=5) as ops:
                return (await ops.get("/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(api_ready, timeout=60, what="the restarted API ready")
    # only the restarted worker consumes for evaluations (the API runs no workers): its follow-up proves it works
    recommendation = await issue_to_leipzig(env, services)
    async with await client(env, services["evaluations"], "lead_partner") as lead:

        async def followup() -> list[dict[str, object]]:
            items: list[dict[str, object]] = (await lead.get("/follow-ups")).json()["items"]
            return [f for f in items if f.get("recommendation_id") == recommendation["id"]]

        [opened] = await eventually(followup, timeout=60, what="the follow-up opened by the restarted worker")
    assert opened["city"] == "leipzig"
