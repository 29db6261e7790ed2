"""Real Kafka and PostgreSQL for every test that crosses a service boundary.

They come from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, else Docker (testcontainers), else local
processes (provision). There is no skip: a test that cannot get its services fails with
the provisioner's message (which part, why, what to install), in CI and on a laptop alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from provision import kafka_bootstrap, postgres_url
from tests.support import Env


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    with kafka_bootstrap() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with postgres_url() as url:
        yield url


@pytest.fixture
def env(kafka: str, pg_server: str) -> Env:
    """A fresh, isolated environment: own databases and own topic prefix on the shared servers."""
    return Env(kafka=kafka, pg_server=pg_server, prefix=f"t{uuid.uuid4().hex[:10]}")
