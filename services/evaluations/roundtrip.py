"""A city's follow-ups through a spreadsheet and back: the rules, pure (no framework, no database).

The export (`EXPORT_COLUMNS`) carries each follow-up's id and version; a city edits the editable
columns offline and uploads the sheet. `plan` compares each row with the follow-up as it is now
and says what the upload would do: change it (field by field, before → after), leave it
unchanged, refuse it (the same workflow rules as a form save, with their reason), or report a
conflict (the follow-up changed since the export: nothing applied, both versions shown).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.evaluations import workflow
from shared.contracts.followups import ImplementationStatus, Response
from shared.platform.errors import DomainError
from shared.platform.sheets import RowError, SheetRefused, Table, parse_date

IMPORTED = "imported from a spreadsheet"  # the mark on every history entry an upload writes
MAX_ROWS = 2_000  # far more than one city's follow-ups; each row is a form save
EXPORT_COLUMNS = (
    "id",
    "version",
    "city",
    "recommendation_title",
    "dimension",
    "due_date",
    "response",
    "justification",
    "implementation_status",
    "owner",
    "responsible_body",
    "planned_completion",
    "comment",
)
# The longest text an uploaded cell may hold, per column (`justification` and `comment` go to the history)
MAX_TEXT = {"owner": 300, "responsible_body": 300, "justification": 5_000, "comment": 5_000}


@dataclass(frozen=True)
class Current:
    """A follow-up as it is now (what `plan` compares a row with)."""

    id: uuid.UUID
    version: int
    city: str
    response: Response
    justification: str | None
    implementation_status: ImplementationStatus
    owner: str | None
    responsible_body: str | None
    planned_completion: date | None
    closed_reason: str | None = None  # set when closed


@dataclass
class SheetRow:
    row: int
    id: uuid.UUID
    version: int
    values: dict[str, Any]  # the editable columns the sheet has, parsed
    justification: str | None = None
    comment: str | None = None


@dataclass
class Plan:
    row: int
    id: uuid.UUID
    action: str  # change | unchanged | refused | conflict
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)  # field → {"before", "after"}
    reason: str | None = None
    code: str | None = None  # the reason's stable code and its parameters (the workflow's, or this module's)
    params: dict[str, Any] | None = None
    sheet: dict[str, Any] | None = None  # a conflict: the sheet's values beside the current ones
    current: dict[str, Any] | None = None

    def update(self) -> dict[str, Any]:
        """The FollowUpUpdate body of a change."""
        return {name: change["after"] for name, change in self.changes.items()}

    def public(self) -> dict[str, Any]:
        body: dict[str, Any] = {"row": self.row, "id": str(self.id), "action": self.action, "changes": _json(self.changes)}
        for name in ("reason", "code", "params", "sheet", "current"):
            if (value := getattr(self, name)) is not None:
                body[name] = _json(value)
        return body


def parse(table: Table) -> tuple[list[SheetRow], list[RowError]]:
    if missing := [c for c in ("id", "version") if c not in table.header]:
        raise SheetRefused(f"missing column(s): {', '.join(missing)}: upload a sheet exported from GET /follow-ups.xlsx")
    if unknown := [c for c in table.header if c and c not in EXPORT_COLUMNS]:
        raise SheetRefused(f"unknown column(s): {', '.join(unknown)}. The columns are: {', '.join(EXPORT_COLUMNS)}")
    rows, errors = [], []
    seen: dict[uuid.UUID, int] = {}
    for number, record in enumerate(table.records(), start=table.first_row):
        if not any(record.values()):
            continue
        row_errors: list[RowError] = []
        parsed = _row(number, record, row_errors)
        if parsed is not None and parsed.id in seen:
            row_errors.append(RowError(number, "id", f"the follow-up is already on row {seen[parsed.id]}"))
        if row_errors or parsed is None:
            errors.extend(row_errors)
            continue
        seen[parsed.id] = number
        rows.append(parsed)
    return rows, errors


def _row(number: int, record: dict[str, str], errors: list[RowError]) -> SheetRow | None:
    def fail(column: str, detail: str) -> None:
        errors.append(RowError(number, column, detail))

    try:
        followup_id = uuid.UUID(record["id"])
    except ValueError:
        fail("id", f"{record['id'][:40]!r} is not a follow-up id: keep the exported id column as it is")
        return None
    if not record["version"].isdigit():
        fail("version", f"{record['version'][:20]!r} is not a version: keep the exported version column as it is")
        return None
    values: dict[str, Any] = {}
    for name, enum in (("response", Response), ("implementation_status", ImplementationStatus)):
        if text := record.get(name, "").strip().lower().replace(" ", "_"):
            try:
                values[name] = enum(text)
            except ValueError:
                fail(name, f"{text!r} is not a {name.replace('_', ' ')}: write one of {', '.join(e.value for e in enum)}")
    for name in ("owner", "responsible_body", "justification", "comment"):
        if len(record.get(name, "")) > MAX_TEXT[name]:
            fail(name, f"{name} has {len(record[name]):,} characters (at most {MAX_TEXT[name]:,})")
    for name in ("owner", "responsible_body"):
        if name in record:
            values[name] = record[name] or None
    if "planned_completion" in record:
        raw = record["planned_completion"]
        values["planned_completion"] = parse_date(raw) if raw else None
        if raw and values["planned_completion"] is None:
            fail("planned_completion", f"{raw!r} is not a date: write YYYY-MM-DD (or DD/MM/YYYY)")
    return SheetRow(
        row=number,
        id=followup_id,
        version=int(record["version"]),
        values=values,
        justification=record.get("justification") or None,
        comment=record.get("comment") or None,
    )


def plan(row: SheetRow, current: Current) -> Plan:
    """What uploading `row` does to `current`, decided by the form save's own workflow rules."""
    changes = {
        name: {"before": getattr(current, name), "after": value}
        for name, value in row.values.items()
        if value != getattr(current, name)
    }
    if not changes:
        return Plan(row.row, row.id, "unchanged")
    if row.version != current.version:
        return Plan(
            row.row,
            row.id,
            "conflict",
            changes,
            reason=f"the follow-up changed since the export (version {row.version}, now {current.version}): "
            "not applied; export again and redo the change",
            code="changed_since_export",
            params={"version": row.version, "current_version": current.version},
            sheet={name: row.values[name] for name in changes},
            current={name: getattr(current, name) for name in changes},
        )
    if current.closed_reason is not None:
        reason = f"the follow-up is closed: {current.closed_reason}"
        why = {"why": current.closed_reason}
        return Plan(row.row, row.id, "refused", changes, reason=reason, code="followup_closed", params=why)
    response = row.values.get("response", current.response)
    status = row.values.get("implementation_status", current.implementation_status)
    try:
        if response != current.response:
            workflow.check_response(current.response, response, comment_of(row, response != current.response))
        workflow.check_status(current.implementation_status, status, response)
    except DomainError as refused:
        code, params = refused.extra.get("code"), refused.extra.get("params")
        return Plan(
            row.row,
            row.id,
            "refused",
            changes,
            reason=refused.detail,
            code=str(code) if code else None,
            params=dict(params) if isinstance(params, dict) else None,
        )
    return Plan(row.row, row.id, "change", changes)


def comment_of(row: SheetRow, response_changes: bool) -> str | None:
    """The history comment of a row's change: a new response's justification, else the comment."""
    if response_changes and row.values.get("response") in workflow.NEEDS_JUSTIFICATION and row.justification:
        return row.justification
    return row.comment


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Response | ImplementationStatus):
        return value.value
    return value
