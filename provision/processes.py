"""Start the three services as real processes (uvicorn via `clusnet serve`), for `clusnet run` and
the end-to-end tests. Each gets its settings through environment variables, as in production."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from provision.system import stop_process
from shared.platform.db import with_database

SERVICES = ("recommendations", "evaluations", "notifications")
DEFAULT_PORTS = {"recommendations": 8001, "evaluations": 8002, "notifications": 8003}
PORTAL_PORT = 8000


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.process)


def service_env(name: str, kafka: str, pg_server: str, db_prefix: str = "clusnet", **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "DATABASE_URL": with_database(pg_server, f"{db_prefix}_{name}"),
        "AUTH_DATABASE_URL": with_database(pg_server, f"{db_prefix}_auth"),
        "WEBHOOK_ALLOW_LOOPBACK": "true",  # local runs: receivers on 127.0.0.1 (never other private addresses)
        **extra,
    }


def portal_urls(ports: dict[str, int]) -> dict[str, str]:
    """The portal's settings naming where each service listens."""
    return {f"{name.upper()}_URL": f"http://127.0.0.1:{port}" for name, port in ports.items()}


def start_service(name: str, port: int, env: dict[str, str], log_dir: Path) -> ServiceProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", name, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return ServiceProcess(name=name, port=port, process=process, log=log)


def wait_ready(services: list[ServiceProcess], timeout: float = 90) -> None:
    """Wait until every service answers /readyz with 200; fail with the log's tail otherwise."""
    deadline = time.monotonic() + timeout
    pending = list(services)
    while pending and time.monotonic() < deadline:
        for svc in list(pending):
            if svc.process.poll() is not None:
                raise RuntimeError(f"{svc.name} exited with {svc.process.returncode}:\n{svc.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{svc.url}/readyz", timeout=2).status_code == 200:
                    pending.remove(svc)
            except httpx.HTTPError:
                pass
        time.sleep(0.3)
    if pending:
        tails = "\n".join(f"--- {s.name}\n{s.log.read_text()[-2000:]}" for s in pending)
        raise RuntimeError(f"not ready after {timeout}s: {', '.join(s.name for s in pending)}\n{tails}")


def launch_service(name: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """One API process (`clusnet serve`); with RUN_WORKERS=false in `env` it runs no workers."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", name, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def launch_worker(name: str, env: dict[str, str], log: Path, port: int | None = None, nice: int = 0) -> subprocess.Popen[bytes]:
    """One worker process (`clusnet worker`): the service's relay, consumers and schedulers, no HTTP.
    Several of them share the work: one consumer group, one active relay (the others stand by).
    `nice`: its CPU priority below the APIs' (see `clusnet worker --nice`)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.cli",
                "worker",
                name,
                *(["--port", str(port)] if port else []),
                *(["--nice", str(nice)] if nice else []),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
