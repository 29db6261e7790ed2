"""Rules for importing a seminar's recommendations from a sheet: pure, no framework, no database.

A sheet (see docs/spreadsheets.md) has one recommendation per row. `parse` turns each row into the
fields of a draft or into errors naming the row, the column and the reason; `check_references`
adds the errors that need what the database knows (partner cities, existing recommendations, the
seminar's date), given to it as plain values. Each good row gets a `key`: a hash of its content,
stored with the draft, so that importing the same rows again creates nothing new.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared.contracts.common import SLUG_PATTERN, Dimension
from shared.platform.sheets import RowError, SheetRefused, Table, parse_date

COLUMNS = ("title", "text", "dimension", "target_city", "due_date", "priority", "tags", "related_recommendation")
REQUIRED = ("title", "text", "dimension")
EXAMPLE = (
    "Map the cluster's firms and research institutes",
    "Publish a yearly map of the biotech cluster's members, to show newcomers whom to talk to.",
    "setting",
    "leipzig",
    "2027-06-30",
    "high",
    "mapping; biotech",
    "",
)
# Synonyms people write for the three parts of the Cluster Initiative Model.
DIMENSIONS = {
    "setting": Dimension.setting,
    "cluster setting": Dimension.setting,
    "1": Dimension.setting,
    "objectives": Dimension.objectives,
    "cluster objectives": Dimension.objectives,
    "2": Dimension.objectives,
    "processes": Dimension.processes,
    "3": Dimension.processes,
}
PRIORITIES = ("high", "medium", "low")
SLUG = re.compile(SLUG_PATTERN)
MAX_TITLE, MAX_TEXT, MAX_TAG, MAX_TAGS, MAX_RELATED = 300, 20_000, 60, 20, 50


@dataclass
class DraftRow:
    """A good row: the draft's fields (as RecommendationDraft takes them) and its content key."""

    row: int
    fields: dict[str, Any]
    key: str

    def preview(self) -> dict[str, Any]:
        return {"row": self.row, "key": self.key, **{k: _jsonable(v) for k, v in self.fields.items()}}


@dataclass
class Parsed:
    rows: list[DraftRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def check_header(table: Table) -> None:
    """Refuse a sheet whose columns are not ours (a misspelt column would silently lose data)."""
    present = [c for c in table.header if c]
    missing = [c for c in REQUIRED if c not in present]
    unknown = [c for c in present if c not in COLUMNS]
    duplicated = sorted({c for c in present if present.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)}")
    if duplicated:
        problems.append(f"column(s) given twice: {', '.join(duplicated)}")
    if problems:
        raise SheetRefused("; ".join(problems) + f". The columns are: {', '.join(COLUMNS)} (download the template)")


def parse(table: Table) -> Parsed:
    """Every non-blank row as a draft, or its errors (all of them, not just the first)."""
    check_header(table)
    parsed = Parsed()
    for number, record in enumerate(table.records(), start=table.first_row):
        if not any(record.values()):
            continue  # a blank line is no recommendation
        errors: list[RowError] = []
        fields = _fields(number, record, errors)
        if errors:
            parsed.errors.extend(errors)
        else:
            parsed.rows.append(DraftRow(row=number, fields=fields, key=content_key(fields)))
    return parsed


def _fields(row: int, record: dict[str, str], errors: list[RowError]) -> dict[str, Any]:
    def fail(column: str, detail: str) -> None:
        errors.append(RowError(row, column, detail))

    title, text = record.get("title", ""), record.get("text", "")
    for column, value, limit in (("title", title, MAX_TITLE), ("text", text, MAX_TEXT)):
        if not value:
            fail(column, f"{column} is required")
        elif len(value) > limit:
            fail(column, f"{column} has {len(value):,} characters (at most {limit:,})")
    dimension = DIMENSIONS.get(record.get("dimension", "").lower())
    if dimension is None:
        fail("dimension", f"{record.get('dimension')!r} is not a dimension: write setting, objectives or processes")
    target = record.get("target_city", "").lower() or None
    if target is not None and not SLUG.match(target):
        fail("target_city", f"{target!r} is not a city slug (like leipzig or lyon)")
    due = None
    if raw_due := record.get("due_date", ""):
        due = parse_date(raw_due)
        if due is None:
            fail("due_date", f"{raw_due!r} is not a date: write YYYY-MM-DD (or DD/MM/YYYY)")
    priority = record.get("priority", "").lower() or "medium"
    if priority not in PRIORITIES:
        fail("priority", f"{priority!r} is not a priority: write high, medium or low")
    tags = split_list(record.get("tags", ""))
    if len(tags) > MAX_TAGS:
        fail("tags", f"{len(tags)} tags (at most {MAX_TAGS})")
    if long := [t for t in tags if len(t) > MAX_TAG]:
        fail("tags", f"tag {long[0][:20]!r}… is longer than {MAX_TAG} characters")
    related: list[uuid.UUID] = []
    for item in split_list(record.get("related_recommendation", "")):
        try:
            related.append(uuid.UUID(item))
        except ValueError:
            fail("related_recommendation", f"{item[:40]!r} is not a recommendation id (a UUID)")
    if len(related) > MAX_RELATED:
        fail("related_recommendation", f"{len(related)} related recommendations (at most {MAX_RELATED})")
    return {
        "title": title,
        "text": text,
        "dimension": dimension,
        "target_city": target,
        "due_date": due,
        "priority": priority,
        "tags": tags,
        "related_ids": related,
    }


def check_references(
    rows: Iterable[DraftRow], *, host_city: str, cities: set[str], held_on: date, known_ids: set[uuid.UUID]
) -> list[RowError]:
    """The checks a form save makes against stored data (services/recommendations/service.py
    stage_draft and domain.check_due_date), given that data as plain values."""
    errors = []
    for r in rows:
        target = r.fields["target_city"] or host_city
        if target not in cities:
            errors.append(RowError(r.row, "target_city", f"{target!r} is not a CLUSNET partner city"))
        due: date | None = r.fields["due_date"]
        if due is not None and due < held_on:
            errors.append(RowError(r.row, "due_date", f"{due.isoformat()} is before the seminar ({held_on.isoformat()})"))
        if missing := [i for i in r.fields["related_ids"] if i not in known_ids]:
            errors.append(RowError(r.row, "related_recommendation", f"no recommendation {missing[0]} exists"))
    return errors


def content_key(fields: dict[str, Any]) -> str:
    """A stable key of a row's content: the same row imported twice has the same key."""
    canonical = json.dumps({k: _jsonable(v) for k, v in sorted(fields.items())}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def split_list(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[;,\n]", text) if part.strip()]


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Dimension):
        return value.value
    return value
