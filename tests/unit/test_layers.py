"""The architecture, held by tests: contracts are pure pydantic; no service imports another; the
platform imports no service; nothing a service runs imports the provisioning; rules modules are
free of frameworks."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = sorted(p for p in (ROOT / "shared" / "contracts").glob("*.py"))
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists())
HEAVY = ("sqlalchemy", "sqlmodel", "asyncpg", "aiokafka", "opentelemetry", "fastapi", "starlette", "alembic")
RULES = ["services/recommendations/domain.py", "services/evaluations/workflow.py", "services/notifications/rules.py"]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def python_files(folder: str) -> list[Path]:
    return [p for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("module", [p.stem for p in CONTRACTS])
def test_a_contract_module_loads_no_database_kafka_or_telemetry_code(module: str) -> None:
    name = "shared.contracts" if module == "__init__" else f"shared.contracts.{module}"
    probe = f"import sys, {name}; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]", f"{name} loads {loaded.strip()}"


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another_or_the_provisioning(service: str) -> None:
    others = {f"services.{s}" for s in SERVICES if s != service}
    for path in python_files(f"services/{service}"):
        bad = {m for m in imports_of(path) if m.startswith(("provision", *others))}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_the_shared_code_imports_no_service_and_no_provisioning() -> None:
    for path in python_files("shared"):
        bad = {m for m in imports_of(path) if m.startswith(("services", "provision"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("rules", RULES)
def test_rules_modules_are_free_of_frameworks(rules: str) -> None:
    bad = {m for m in imports_of(ROOT / rules) if m.split(".")[0] in HEAVY}
    assert not bad, f"{rules} imports {sorted(bad)}"
