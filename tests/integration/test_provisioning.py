"""`make run` and the tests on a machine where Java, Maven and PostgreSQL are not on PATH: the
provisioning still brings PostgreSQL up (Debian keeps its server binaries off PATH, and they are
found where Debian puts them), and says in one line what to install for what it cannot start."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provision import ProvisionError
from provision.kafka import KafkaProcess
from provision.postgres import PostgresProcess
from provision.system import port_in_use

pytestmark = pytest.mark.services


@pytest.fixture
def bare_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A PATH with python and runuser only: no java, no mvn, no PostgreSQL binaries."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("runuser",):
        if found := shutil.which(tool):
            (folder / tool).symlink_to(found)
    (folder / "python3").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(folder))
    return str(folder)


def test_system_deps_says_in_one_line_what_to_install(bare_path: str) -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "provision.system_deps", "--check"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": bare_path},
        check=False,
    )
    assert answer.returncode == 1
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 1, answer.stderr
    assert lines[0].startswith("missing: Java 17, Maven") and "apt-get install openjdk-17-jre-headless maven" in lines[0]


def test_kafka_without_java_fails_with_one_line_and_postgres_still_starts(bare_path: str) -> None:
    with pytest.raises(ProvisionError) as refused:
        KafkaProcess()
    assert "\n" not in str(refused.value) and "apt-get install openjdk-17-jre-headless" in str(refused.value)
    server = PostgresProcess()  # initdb and postgres are found where Debian installs them
    try:
        server.start()  # returns once the server accepts connections
        assert port_in_use(server.port)
    finally:
        server.remove()
