"""Keeps the processes `make run` (and the fault harness) starts alive: a process that exits
without being asked to is started again, and the console says so.

A process that dies soon after its start is restarted after a growing delay (1, 2, 4 … 30 s),
so a broken configuration does not spin the CPU; one that ran for a while is restarted at once.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from provision.system import stop_process

QUICK_EXIT_S = 10.0  # an exit sooner than this after start counts as a crash loop
MAX_DELAY_S = 30.0


@dataclass
class Supervised:
    name: str
    launch: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)
    restarts: int = 0
    quick_exits: int = 0
    restart_at: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid


class Supervisor:
    def __init__(self, say: Callable[[str], None] = lambda line: print(line, flush=True)) -> None:
        self.say = say
        self.children: dict[str, Supervised] = {}
        self._lock = threading.Lock()

    def start(self, name: str, launch: Callable[[], subprocess.Popen[bytes]]) -> Supervised:
        with self._lock:
            if name in self.children:
                raise ValueError(f"{name} is already supervised")
            child = Supervised(name=name, launch=launch, process=launch())
            self.children[name] = child
            return child

    def check(self) -> None:
        """Restart what exited on its own (call it every second or so)."""
        now = time.monotonic()
        with self._lock:
            for child in self.children.values():
                code = child.process.poll()
                if code is None:
                    continue
                if child.restart_at is None:
                    quick = now - child.started_at < QUICK_EXIT_S
                    child.quick_exits = child.quick_exits + 1 if quick else 0
                    delay = min(2.0 ** (child.quick_exits - 1), MAX_DELAY_S) if quick else 0.0
                    child.restart_at = now + delay
                    later = f" in {delay:.0f}s" if delay else ""
                    self.say(f"supervisor: {child.name} (pid {child.pid}) exited with code {code}; restarting it{later}")
                if now >= child.restart_at:
                    child.process = child.launch()
                    child.started_at, child.restart_at = time.monotonic(), None
                    child.restarts += 1
                    self.say(f"supervisor: {child.name} restarted (pid {child.pid}, restart #{child.restarts})")

    def stop(self, name: str) -> None:
        """Stop one child for good (SIGTERM, then SIGKILL after a while) and forget it."""
        with self._lock:
            child = self.children.pop(name)
        stop_process(child.process)

    def stop_all(self) -> None:
        for name in list(self.children)[::-1]:
            self.stop(name)

    def watch(self, stop: threading.Event, interval_s: float = 1.0) -> None:
        """Check every `interval_s` until `stop` is set (the foreground loop of `make run`)."""
        while not stop.wait(interval_s):
            self.check()
