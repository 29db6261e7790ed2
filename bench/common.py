"""Helpers shared by the benchmarks: percentiles, closed-loop load, process memory, result tables."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).with_name("results")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


@dataclass
class Load:
    requests: int
    seconds: float
    errors: int
    latencies_ms: list[float] = field(repr=False)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def summary(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "rps": round(self.rps, 1),
            "p50_ms": round(percentile(self.latencies_ms, 50), 2),
            "p99_ms": round(percentile(self.latencies_ms, 99), 2),
        }


async def closed_loop(client: httpx.AsyncClient, calls: list[tuple[str, str, Any]], concurrency: int) -> Load:
    """Send `calls` (method, url, json) with `concurrency` requests in flight; time each."""
    queue: asyncio.Queue[tuple[str, str, Any]] = asyncio.Queue()
    for call in calls:
        queue.put_nowait(call)
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while not queue.empty():
            method, url, body = queue.get_nowait()
            started = time.perf_counter()
            answer = await client.request(method, url, json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            errors += answer.status_code >= 400

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Load(requests=len(calls), seconds=time.perf_counter() - started, errors=errors, latencies_ms=latencies)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used, with that of its reaped children (PostgreSQL's
    exited backends are counted in their postmaster's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def pids_named(command: str) -> list[int]:
    """Every process whose command name is `command` (e.g. all of PostgreSQL's, Kafka's `java`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == command:
                    found.append(int(entry.name))
            except OSError:  # gone meanwhile
                pass
    return found


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:  # gone meanwhile: its time is in its parent's children time
            pass
    return total


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    memory = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


@dataclass
class Row:
    benchmark: str
    ours: str
    baseline: str
    ratio: str
    target: str
    met: bool | None


def write(rows: list[Row], details: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    info = machine()
    (RESULTS / "latest.json").write_text(
        json.dumps({"machine": info, "rows": [asdict(r) for r in rows], "details": details}, indent=2) + "\n"
    )
    lines = [
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, Python {info['python']}; "
        f"commit {info['commit']}, {info['date']}.",
        "",
        "| benchmark | ours | baseline (same run, same machine) | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
        *(f"| {r.benchmark} | {r.ours} | {r.baseline} | {r.ratio} | {r.target} | {_met(r.met)} |" for r in rows),
    ]
    path = RESULTS / "latest.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _met(met: bool | None) -> str:
    return "—" if met is None else ("yes" if met else "no")
