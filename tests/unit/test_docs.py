"""The docs tell the truth about the code: every setting docs/operations.md names exists, with the
default it gives where it gives a plain one, and every repository path the docs name exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.evaluations.config import Settings as EvaluationsSettings
from services.notifications.config import Settings as NotificationsSettings
from services.portal.config import Settings as PortalSettings
from services.recommendations.config import Settings as RecommendationsSettings
from shared.platform.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
SETTINGS: dict[str, type[ServiceSettings]] = {
    "recommendations": RecommendationsSettings,
    "evaluations": EvaluationsSettings,
    "notifications": NotificationsSettings,
    "portal": PortalSettings,
}
NOT_OURS = ("OTEL_",)  # OpenTelemetry's own variables, read by its SDK
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("services/*/README.md"))]
PATH = re.compile(r"`((?:shared|services|provision|tests|bench|docs|schemas|examples)/[\w./-]*)`")


def settings_rows() -> list[tuple[str, list[str], list[str]]]:
    """(service or "", variable names, default values) of each row of the Settings table."""
    table = OPERATIONS.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0] or cells[0] in ("variable", "---"):
            continue
        service, _, names = cells[0].rpartition(":")
        rows.append((service.strip(), re.findall(r"`([A-Z][A-Z0-9_]+)`", names), re.findall(r"`([^`]*)`", cells[1])))
    return rows


@pytest.mark.parametrize(("service", "names", "defaults"), settings_rows())
def test_each_setting_in_operations_md_exists(service: str, names: list[str], defaults: list[str]) -> None:
    classes = [SETTINGS[service]] if service else list(SETTINGS.values())
    for name in names:
        if name.startswith(NOT_OURS):
            continue
        owners = [cls for cls in classes if name.lower() in cls.model_fields]
        assert owners, f"docs/operations.md names {name}, which no {service or 'service'} setting has"
    if len(names) == 1 and len(defaults) == 1 and re.fullmatch(r"[\w.:]+", defaults[0]):
        field = classes[0].model_fields[names[0].lower()]
        assert str(field.default).lower() in (defaults[0].lower(), f"{defaults[0]}.0"), f"{names[0]} defaults to {field.default}"


def test_the_settings_table_is_not_empty() -> None:
    assert len(settings_rows()) >= 8


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_a_doc_names_exists(doc: Path) -> None:
    missing = [p for p in PATH.findall(doc.read_text()) if "<" not in p and "*" not in p and not (ROOT / p).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} names paths that do not exist: {missing}"
