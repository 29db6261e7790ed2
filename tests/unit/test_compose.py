"""No Docker engine runs here, so docker-compose.yml is checked by reading it: every service the
system needs is there, images are pinned, ports and commands agree, and every environment
variable is a setting the service actually reads."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.evaluations.config import Settings as EvaluationsSettings
from services.notifications.config import Settings as NotificationsSettings
from services.recommendations.config import Settings as RecommendationsSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {
    "recommendations": RecommendationsSettings,
    "evaluations": EvaluationsSettings,
    "notifications": NotificationsSettings,
}
WORKER_PORTS = {"recommendations": 9001, "evaluations": 9002, "notifications": 9003}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_the_whole_system_is_there(compose: dict[str, Any]) -> None:
    expected = {"kafka", "postgres", "mailpit", "seed", "seed-stakeholders", *SETTINGS, *(f"{s}-worker" for s in SETTINGS)}
    assert expected <= set(compose)


def test_images_are_pinned_and_infrastructure_is_health_checked(compose: dict[str, Any]) -> None:
    for name in ("kafka", "postgres", "mailpit"):
        image = compose[name]["image"]
        assert ":" in image and not image.endswith(":latest"), image
        assert compose[name]["healthcheck"]["test"]
    assert compose["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper


@pytest.mark.parametrize("service", list(SETTINGS))
def test_api_processes_agree_with_their_settings(compose: dict[str, Any], service: str) -> None:
    api, worker = compose[service], compose[f"{service}-worker"]
    port = SETTINGS[service]().port
    assert api["command"][:3] == ["clusnet", "serve", service] and api["command"][-1] == str(port)
    assert api["ports"] == [f"{port}:{port}"] and f"127.0.0.1:{port}/healthz" in " ".join(api["healthcheck"]["test"])
    worker_port = WORKER_PORTS[service]  # the worker's probes and metrics (liveness checked by compose)
    assert worker["command"] == ["clusnet", "worker", service, "--host", "0.0.0.0", "--port", str(worker_port)]
    assert f"127.0.0.1:{worker_port}/healthz" in " ".join(worker["healthcheck"]["test"])
    assert api["environment"]["RUN_WORKERS"] == "false" and "RUN_WORKERS" not in worker["environment"]
    for proc in (api, worker):
        assert {"kafka", "postgres"} <= set(proc["depends_on"])
        assert all(dep["condition"] == "service_healthy" for dep in proc["depends_on"].values())
        fields = set(SETTINGS[service].model_fields)
        unknown = [k for k in proc["environment"] if k.lower() not in fields]
        assert not unknown, f"{service}: environment variables no setting reads: {unknown}"
        assert proc["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert proc["environment"]["DATABASE_URL"].endswith(f"/clusnet_{service}")


def test_demo_data_is_loaded_into_each_owners_database_stakeholders_first(compose: dict[str, Any]) -> None:
    stakeholders, seminars = compose["seed-stakeholders"], compose["seed"]
    assert stakeholders["command"] == ["clusnet", "seed-stakeholders"] and seminars["command"] == ["clusnet", "seed"]
    assert stakeholders["environment"]["DATABASE_URL"].endswith("/clusnet_notifications")
    assert seminars["environment"]["DATABASE_URL"].endswith("/clusnet_recommendations")
    assert seminars["depends_on"]["seed-stakeholders"]["condition"] == "service_completed_successfully"


def test_mail_goes_to_the_sink(compose: dict[str, Any]) -> None:
    env = compose["notifications-worker"]["environment"]
    assert env["SMTP_HOST"] == "mailpit" and env["SMTP_PORT"] == "1025"


def test_the_portal_calls_the_services_by_their_compose_names(compose: dict[str, Any]) -> None:
    from services.portal.config import Settings as PortalSettings

    portal = compose["portal"]
    assert portal["command"] == ["clusnet", "serve", "portal", "--host", "0.0.0.0", "--port", "8000"]
    assert portal["ports"] == ["8000:8000"]
    unknown = [k for k in portal["environment"] if k.lower() not in PortalSettings.model_fields]
    assert not unknown, f"portal: environment variables no setting reads: {unknown}"
    for name, port in (("recommendations", 8001), ("evaluations", 8002), ("notifications", 8003)):
        assert portal["environment"][f"{name.upper()}_URL"] == f"http://{name}:{port}"
        assert portal["depends_on"][name]["condition"] == "service_healthy"
    assert compose["notifications-worker"]["environment"]["PORTAL_URL"] == "http://localhost:8000"
