"""Schemathesis against each service's OpenAPI schema, on real processes, Kafka and PostgreSQL:
a bounded number of generated requests per operation; no 5xx, and every answer (status code,
content type, body) matches the schema."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from provision.processes import ServiceProcess, service_env, start_service, wait_ready
from provision.system import free_port
from tests.support import Env

pytestmark = pytest.mark.services
EXAMPLES_PER_OPERATION = 15
ROLE = {"recommendations": "lead_partner", "evaluations": "lead_partner", "notifications": "admin"}
CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def live(kafka: str, pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[ServiceProcess, str]]]:
    env = Env(kafka=kafka, pg_server=pg_server, prefix=f"fz{uuid.uuid4().hex[:8]}")
    logs: Path = tmp_path_factory.mktemp("fuzz-logs")
    started = {}
    try:
        for name in ROLE:
            started[name] = start_service(
                name,
                free_port(),
                service_env(name, kafka, pg_server, env.prefix, TOPIC_PREFIX=env.prefix, LOG_JSON="false"),
                logs,
            )
        wait_ready(list(started.values()))
        yield {name: (svc, asyncio.run(env.token(ROLE[name]))) for name, svc in started.items()}
    finally:
        for svc in started.values():
            svc.stop()


def _schema(live: dict[str, tuple[ServiceProcess, str]], name: str) -> schemathesis.BaseSchema:
    svc, _ = live[name]
    return schemathesis.openapi.from_url(f"{svc.url}/openapi.json")


@pytest.fixture(scope="module")
def recommendations_schema(live: dict[str, tuple[ServiceProcess, str]]) -> schemathesis.BaseSchema:
    return _schema(live, "recommendations")


@pytest.fixture(scope="module")
def evaluations_schema(live: dict[str, tuple[ServiceProcess, str]]) -> schemathesis.BaseSchema:
    return _schema(live, "evaluations")


@pytest.fixture(scope="module")
def notifications_schema(live: dict[str, tuple[ServiceProcess, str]]) -> schemathesis.BaseSchema:
    return _schema(live, "notifications")


FUZZ = settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _call(case: schemathesis.Case, live: dict[str, tuple[ServiceProcess, str]], name: str) -> None:
    svc, token = live[name]
    # JSON, so that the event feed answers a page instead of an endless event stream
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    case.call_and_validate(base_url=svc.url, headers=headers, checks=CHECKS)


recommendations = schemathesis.pytest.from_fixture("recommendations_schema")
evaluations = schemathesis.pytest.from_fixture("evaluations_schema")
notifications = schemathesis.pytest.from_fixture("notifications_schema")


@recommendations.parametrize()
@FUZZ
def test_recommendations_api(case: schemathesis.Case, live: dict[str, tuple[ServiceProcess, str]]) -> None:
    _call(case, live, "recommendations")


@evaluations.parametrize()
@FUZZ
def test_evaluations_api(case: schemathesis.Case, live: dict[str, tuple[ServiceProcess, str]]) -> None:
    _call(case, live, "evaluations")


@notifications.parametrize()
@FUZZ
def test_notifications_api(case: schemathesis.Case, live: dict[str, tuple[ServiceProcess, str]]) -> None:
    _call(case, live, "notifications")
