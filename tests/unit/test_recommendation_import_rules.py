"""services/recommendations/importing.py without services: each row's errors, keys, references."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from services.recommendations.importing import COLUMNS, check_references, content_key, parse
from shared.contracts.common import Dimension
from shared.platform.sheets import SheetRefused, Table


def table(*rows: list[str], header: tuple[str, ...] = COLUMNS) -> Table:
    return Table(header=list(header), rows=[list(r) for r in rows])


GOOD = ["Map the cluster", "Publish a map", "Cluster setting", "leipzig", "30/06/2030", "High", "a; b", ""]


def test_a_good_row_becomes_draft_fields() -> None:
    parsed = parse(table(GOOD))
    assert parsed.errors == []
    [row] = parsed.rows
    assert row.row == 2
    assert row.fields == {
        "title": "Map the cluster",
        "text": "Publish a map",
        "dimension": Dimension.setting,
        "target_city": "leipzig",
        "due_date": date(2030, 6, 30),
        "priority": "high",
        "tags": ["a", "b"],
        "related_ids": [],
    }


def test_every_error_of_a_row_is_listed_with_row_and_column() -> None:
    bad = ["", "x" * 20_001, "economy", "Leip zig", "tomorrow", "urgent", "", "not-a-uuid"]
    parsed = parse(table(GOOD, bad))
    assert [r.row for r in parsed.rows] == [2]
    assert [(e.row, e.column) for e in parsed.errors] == [
        (3, "title"),
        (3, "text"),
        (3, "dimension"),
        (3, "target_city"),
        (3, "due_date"),
        (3, "priority"),
        (3, "related_recommendation"),
    ]


def test_blank_rows_are_skipped_and_optional_columns_may_be_absent() -> None:
    parsed = parse(table(["A", "B", "objectives"], ["", "", ""], header=("title", "text", "dimension")))
    assert [r.row for r in parsed.rows] == [2] and parsed.errors == []
    assert parsed.rows[0].fields["priority"] == "medium" and parsed.rows[0].fields["target_city"] is None


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (("title", "text"), "missing column"),
        ((*COLUMNS, "notes"), "unknown column"),
        (("title", "title", "text", "dimension"), "twice"),
    ],
)
def test_a_foreign_header_refuses_the_sheet(header: tuple[str, ...], says: str) -> None:
    with pytest.raises(SheetRefused, match=says):
        parse(table(header=header))


def test_the_content_key_is_stable_and_content_bound() -> None:
    first, again = parse(table(GOOD)).rows[0], parse(table(list(GOOD))).rows[0]
    changed = parse(table([*GOOD[:1], "Publish a better map", *GOOD[2:]])).rows[0]
    assert first.key == again.key == content_key(first.fields) and first.key != changed.key


def test_references_are_checked_against_what_the_service_knows() -> None:
    known = uuid.uuid4()
    rows = parse(
        table(
            ["A", "a", "setting", "atlantis", "", "", "", ""],
            ["B", "b", "setting", "", "2001-01-01", "", "", str(uuid.uuid4())],
            ["C", "c", "setting", "", "", "", "", str(known)],
        )
    ).rows
    errors = check_references(rows, host_city="lyon", cities={"lyon", "leipzig"}, held_on=date(2009, 11, 26), known_ids={known})
    assert [(e.row, e.column) for e in errors] == [(2, "target_city"), (3, "due_date"), (3, "related_recommendation")]
