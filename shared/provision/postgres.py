"""PostgreSQL from the machine's binaries (Debian's `postgresql` package), as a throwaway cluster."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.provision.errors import ProvisionError
from shared.provision.ports import free_port, port_in_use

START_TIMEOUT_S = 30
# A throwaway cluster: durability is not wanted, speed is.
FAST_SETTINGS = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300"]


def to_asyncpg_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and answer the asyncpg form."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
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


@contextmanager
def local_postgres(port: int | None = None) -> Iterator[str]:
    if port is not None and port_in_use(port):
        raise ProvisionError(f"PostgreSQL: port {port} on 127.0.0.1 is already taken; stop what uses it or set DATABASE_URL")
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="clusnet-pg-"))
    data = workdir / "data"
    if os.geteuid() == 0:
        os.chmod(workdir, 0o755)
        shutil.chown(workdir, "postgres", "postgres")
    init = subprocess.run(
        _as_postgres_user([_binary("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if init.returncode != 0:
        raise ProvisionError(f"PostgreSQL: initdb failed:\n{init.stdout[-2000:]}{init.stderr[-2000:]}")
    log_path = workdir / "postgres.log"
    cmd = [_binary("postgres"), "-D", str(data), "-p", str(port), "-k", str(workdir), "-c", "listen_addresses=127.0.0.1", *FAST_SETTINGS]
    with open(log_path, "wb") as log_file:
        os.chmod(log_path, 0o666)
        proc = subprocess.Popen(_as_postgres_user(cmd), stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_ready(proc, port, log_path)
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    isready = _binary("pg_isready")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ProvisionError(f"PostgreSQL: the server exited with code {proc.returncode}:\n{log_path.read_text(errors='replace')[-2000:]}")
        if subprocess.run([isready, "-h", "127.0.0.1", "-p", str(port)], capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.1)
    proc.kill()
    raise ProvisionError(f"PostgreSQL: not ready within {START_TIMEOUT_S}s:\n{log_path.read_text(errors='replace')[-2000:]}")
