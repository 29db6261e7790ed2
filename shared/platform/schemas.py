"""JSON Schemas of the events, generated from their pydantic models and checked into schemas/events/.

`breaking_changes(old, new)` says what in a model change would break a consumer that validates
against the checked-in schema: a removed or retyped field, a newly required field, an enum value
gone. Such a change needs a new event version (`.v2`) instead.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

import shared.contracts  # noqa: F401 - registers every event type
from shared.contracts.envelope import REGISTRY

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "events"


def generate(event_type: str) -> dict[str, Any]:
    schema = REGISTRY[event_type].model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"urn:{event_type}", **schema}


def path_of(event_type: str) -> Path:
    return SCHEMA_DIR / f"{event_type}.json"


def write_schemas(dry_run: bool = False) -> list[str]:
    """Write every schema that differs from the generated one; answer the changed file names."""
    changed = []
    for event_type in sorted(REGISTRY):
        text = json.dumps(generate(event_type), indent=2, sort_keys=True) + "\n"
        path = path_of(event_type)
        if not path.exists() or path.read_text() != text:
            changed.append(path.name)
            if not dry_run:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    return changed


@cache
def schema_of(event_type: str) -> Draft202012Validator:
    """A validator of the checked-in schema (what integrations rely on)."""
    return Draft202012Validator(json.loads(path_of(event_type).read_text()))


def breaking_changes(old: dict[str, Any], new: dict[str, Any], where: str = "") -> list[str]:
    problems: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_prop in old_props.items():
        if name not in new_props:
            problems.append(f"{where}{name}: removed")
            continue
        problems += _compare(old_prop, new_props[name], f"{where}{name}")
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"{where}{name}: newly required")
    for name, old_def in old.get("$defs", {}).items():
        if name in new.get("$defs", {}):
            problems += breaking_changes(old_def, new["$defs"][name], f"{where}{name}.")
    return problems


def _compare(old: dict[str, Any], new: dict[str, Any], where: str) -> list[str]:
    problems = []
    if _types(old) != _types(new):
        problems.append(f"{where}: type {_types(old)} became {_types(new)}")
    if "enum" in old and not set(old["enum"]) <= set(new.get("enum", old["enum"])):
        problems.append(f"{where}: enum values removed: {sorted(set(old['enum']) - set(new['enum']))}")
    if old.get("$ref") != new.get("$ref"):
        problems.append(f"{where}: reference {old.get('$ref')} became {new.get('$ref')}")
    return problems


def _types(prop: dict[str, Any]) -> list[str]:
    if "anyOf" in prop:
        return sorted(str(t.get("type", t.get("$ref"))) for t in prop["anyOf"])
    return [str(prop.get("type", prop.get("$ref")))]
