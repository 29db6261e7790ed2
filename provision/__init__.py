"""Where the real Kafka and PostgreSQL come from, for the tests and for `make run`.

Order ("Real parts" in the team's design, ../shared/DESIGN.md beside the checkout, not in this
repository): environment variables → a Docker engine (testcontainers) → local processes started
from this machine's Java/Maven and PostgreSQL binaries.
Each provider is a context manager that yields a connection string and stops what it started.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from provision.errors import ProvisionError
from provision.kafka import local_kafka
from provision.postgres import local_postgres, to_asyncpg_url

__all__ = ["ProvisionError", "docker_available", "kafka_bootstrap", "postgres_url"]

log = logging.getLogger(__name__)


def docker_available() -> bool:
    """True when a Docker engine answers (not merely when the client is installed)."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:  # any failure means "no usable engine"
        return False


@contextmanager
def kafka_bootstrap(port: int | None = None) -> Iterator[str]:
    """Yield a Kafka bootstrap address. `port` pins the local broker's port (make run: 9092)."""
    if env := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        log.info("kafka from KAFKA_BOOTSTRAP_SERVERS=%s", env)
        yield env
        return
    if docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    with local_kafka(port=port) as bootstrap:
        yield bootstrap


@contextmanager
def postgres_url(port: int | None = None) -> Iterator[str]:
    """Yield an asyncpg SQLAlchemy URL of a PostgreSQL server (database `postgres`)."""
    if env := os.environ.get("DATABASE_URL"):
        log.info("postgres from DATABASE_URL")
        yield to_asyncpg_url(env)
        return
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver="asyncpg") as container:
            yield container.get_connection_url()
        return
    with local_postgres(port=port) as url:
        yield url
