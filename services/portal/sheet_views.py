"""Shaping the spreadsheet imports' previews and results for the pages. Pure functions.

The services decide every row's fate (`action`, `reason`, errors); this module only counts, orders
and trims what the portal keeps and shows.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

ROWS_PER_PAGE = 50  # a 5,000-row preview lists its errors in full and its rows page by page
LOOK_ORDER = {"refused": 0, "conflict": 0, "unchanged": 2, "exists": 2}  # every other action: 1
# What the portal keeps of a recommendations preview row (the full text stays in the file).
KEPT_FIELDS = ("row", "title", "dimension", "target_city", "due_date", "priority", "tags", "action")


def kept_preview(preview: dict[str, Any]) -> dict[str, Any]:
    """The preview as the portal holds it until the confirm: every error, each row's summary."""
    rows = [{k: r.get(k) for k in KEPT_FIELDS if k in r} | _followup_fields(r) for r in preview.get("rows", [])]
    return {"rows": rows, "errors": list(preview.get("errors", [])), "counts": preview.get("counts")}


def _followup_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "changes", "reason", "code", "params", "sheet", "current") if k in row}


def action_kind(action: str) -> str:
    """`repeats row 7` → `repeats`; every other action is its own kind."""
    return "repeats" if action.startswith("repeats row") else action


def repeated_row(action: str) -> str:
    return action.removeprefix("repeats row").strip()


def counts(preview: dict[str, Any]) -> dict[str, int]:
    """Rows per action kind (create, exists, repeats; change, unchanged, refused, conflict, applied)."""
    return dict(Counter(action_kind(str(r.get("action", ""))) for r in preview.get("rows", [])))


def rows_page(preview: dict[str, Any], page: int, per_page: int = ROWS_PER_PAGE) -> tuple[list[dict[str, Any]], int, int]:
    """One page of the rows, the page number (clamped) and the number of pages. Rows needing a look
    come first (refused, conflict), then those that change something, then unchanged ones; sheet
    order within each."""
    ordered = sorted(preview.get("rows", []), key=lambda r: LOOK_ORDER.get(str(r.get("action")), 1))
    pages = max(1, -(-len(ordered) // per_page))
    page = min(max(page, 1), pages)
    return ordered[(page - 1) * per_page : page * per_page], page, pages


def side_by_side(row: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """A conflict's fields: (field, the sheet's value, the value now), for the fields that differ."""
    sheet, current = row.get("sheet") or {}, row.get("current") or {}
    names = list(dict.fromkeys([*sheet, *current]))
    return [(name, sheet.get(name), current.get(name)) for name in names if sheet.get(name) != current.get(name)]


def job_percent(job: dict[str, Any]) -> int:
    return round(100 * float(job.get("progress") or 0))
