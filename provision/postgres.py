"""PostgreSQL from the machine's binaries (Debian's `postgresql` package), as a throwaway cluster."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from provision.errors import ProvisionError
from provision.system import free_port, port_in_use, stop_process

START_TIMEOUT_S = 30
# A throwaway cluster: durability is not wanted, speed is.
FAST_SETTINGS = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300"]


def to_asyncpg_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and answer the asyncpg form."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ProvisionError(f"DATABASE_URL must be a postgresql:// URL, got {url.split('://')[0]}://…")


def _binary(name: str) -> str:
    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return candidate
    if found := shutil.which(name):
        return found
    raise ProvisionError(f"PostgreSQL: `{name}` not found; install the server (apt-get install postgresql) or set DATABASE_URL")


def _as_postgres_user(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: run them as the `postgres` system user.
    if os.geteuid() != 0:
        return cmd
    if not shutil.which("runuser"):
        raise ProvisionError("PostgreSQL: running as root needs `runuser` (util-linux) to drop to the postgres user")
    return ["runuser", "-u", "postgres", "--", *cmd]


class PostgresProcess:
    """A throwaway PostgreSQL cluster on loopback that can be stopped and started again on its data."""

    def __init__(self, port: int | None = None) -> None:
        if port is not None and port_in_use(port):
            raise ProvisionError(f"PostgreSQL: port {port} on 127.0.0.1 is already taken; stop what uses it or set DATABASE_URL")
        self.port = port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="clusnet-pg-"))
        self.data = self.workdir / "data"
        if os.geteuid() == 0:
            os.chmod(self.workdir, 0o755)
            shutil.chown(self.workdir, "postgres", "postgres")
        init = subprocess.run(
            _as_postgres_user(
                [_binary("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if init.returncode != 0:
            raise ProvisionError(f"PostgreSQL: initdb failed:\n{init.stdout[-2000:]}{init.stderr[-2000:]}")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        log_path = self.workdir / "postgres.log"
        cmd = [
            _binary("postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.workdir),
            "-c",
            "listen_addresses=127.0.0.1",
            *FAST_SETTINGS,
        ]
        with open(log_path, "ab") as log_file:
            os.chmod(log_path, 0o666)
            self.proc = subprocess.Popen(
                _as_postgres_user(cmd), stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        _wait_ready(self.proc, self.port, log_path)

    def stop(self) -> None:
        """A "fast" shutdown (SIGINT to the postmaster): clients are disconnected, data is kept.
        Not SIGTERM to runuser: that is a "smart" shutdown, which waits for pooled clients, and
        runuser kills it after two seconds, leaving a stale postmaster.pid behind."""
        if self.proc is None:
            return
        try:
            postmaster: int | None = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            postmaster = None  # not up (yet): stop what we started
        stop_process(self.proc, sig=signal.SIGINT if postmaster else signal.SIGTERM, pid=postmaster)
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def local_postgres(port: int | None = None) -> Iterator[str]:
    server = PostgresProcess(port)
    try:
        server.start()
        yield server.url
    finally:
        server.remove()


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    isready = _binary("pg_isready")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ProvisionError(
                f"PostgreSQL: the server exited with code {proc.returncode}:\n{log_path.read_text(errors='replace')[-2000:]}"
            )
        if subprocess.run([isready, "-h", "127.0.0.1", "-p", str(port)], capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.1)
    proc.kill()
    raise ProvisionError(f"PostgreSQL: not ready within {START_TIMEOUT_S}s:\n{log_path.read_text(errors='replace')[-2000:]}")
