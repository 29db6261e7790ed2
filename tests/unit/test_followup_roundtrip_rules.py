"""services/evaluations/roundtrip.py without services: each row's plan, by the workflow's own rules."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from services.evaluations.roundtrip import Current, comment_of, parse, plan
from shared.contracts.followups import ImplementationStatus as S
from shared.contracts.followups import Response as R
from shared.platform.sheets import SheetRefused, Table

ID = uuid.uuid4()
NOW = Current(
    id=ID,
    version=3,
    city="leipzig",
    response=R.pending,
    justification=None,
    implementation_status=S.not_started,
    owner=None,
    responsible_body="Wirtschaftsamt",
    planned_completion=None,
)


def row(**cells: str) -> Table:
    return Table(header=["id", "version", *cells], rows=[[str(ID), "3", *cells.values()]])


def plan_of(**cells: str) -> tuple[str, dict[str, dict[str, object]], str | None]:
    [sheet_row], errors = parse(row(**cells))
    assert errors == []
    p = plan(sheet_row, NOW)
    return p.action, p.changes, p.reason


def test_a_change_lists_each_field_before_and_after() -> None:
    action, changes, _ = plan_of(response="Accepted", implementation_status="in progress", planned_completion="31/12/2030")
    assert action == "change"
    assert changes == {
        "response": {"before": R.pending, "after": R.accepted},
        "implementation_status": {"before": S.not_started, "after": S.in_progress},
        "planned_completion": {"before": None, "after": date(2030, 12, 31)},
    }


def test_same_values_are_unchanged_and_an_emptied_cell_clears_the_field() -> None:
    assert plan_of(response="pending", responsible_body="Wirtschaftsamt")[0] == "unchanged"
    assert plan_of(responsible_body="")[1] == {"responsible_body": {"before": "Wirtschaftsamt", "after": None}}


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"implementation_status": "implemented"}, "cannot go from not_started to implemented"),
        ({"response": "rejected"}, "needs a justification"),
        ({"response": "rejected", "implementation_status": "in_progress"}, "needs a justification"),
    ],
)
def test_the_workflow_refuses_with_its_reason(cells: dict[str, str], reason: str) -> None:
    action, _, why = plan_of(**cells)
    assert action == "refused" and why is not None and reason in why


def test_a_justification_column_justifies_a_rejection() -> None:
    [sheet_row], _ = parse(row(response="rejected", justification="no budget until 2030", comment="see minutes"))
    assert plan(sheet_row, NOW).action == "change"
    assert comment_of(sheet_row, response_changes=True) == "no budget until 2030"
    assert comment_of(sheet_row, response_changes=False) == "see minutes"


def test_a_stale_version_with_changes_is_a_conflict_shown_side_by_side() -> None:
    [sheet_row], _ = parse(Table(header=["id", "version", "owner"], rows=[[str(ID), "2", "Herr Müller"]]))
    p = plan(sheet_row, NOW)
    assert p.action == "conflict" and "version 2, now 3" in (p.reason or "")
    assert p.sheet == {"owner": "Herr Müller"} and p.current == {"owner": None}
    [same], _ = parse(Table(header=["id", "version", "owner"], rows=[[str(ID), "2", ""]]))
    assert plan(same, NOW).action == "unchanged"  # nothing to apply: no conflict either


def test_a_closed_follow_up_refuses_changes() -> None:
    [sheet_row], _ = parse(row(owner="X"))
    closed = Current(**{**NOW.__dict__, "closed_reason": "recommendation withdrawn: merged"})
    assert plan(sheet_row, closed).reason == "the follow-up is closed: recommendation withdrawn: merged"


def test_bad_cells_are_row_errors_and_a_foreign_sheet_is_refused() -> None:
    table = Table(
        header=["id", "version", "implementation_status", "planned_completion"],
        rows=[["nope", "1", "", ""], [str(ID), "x", "", ""], [str(ID), "1", "done", "soon"], [str(ID), "1", "", ""]],
    )
    rows, errors = parse(table)
    assert [(e.row, e.column) for e in errors] == [
        (2, "id"),
        (3, "version"),
        (4, "implementation_status"),
        (4, "planned_completion"),
    ]
    assert [r.row for r in rows] == [5]
    with pytest.raises(SheetRefused, match="missing column"):
        parse(Table(header=["title"], rows=[]))
    with pytest.raises(SheetRefused, match="unknown column"):
        parse(Table(header=["id", "version", "budget"], rows=[]))


def test_a_refused_row_carries_the_workflow_code_and_a_conflict_or_closed_row_its_own() -> None:
    [refused], _ = parse(row(implementation_status="implemented"))
    p = plan(refused, NOW)
    assert p.code == "status_transition_not_allowed" and p.params and p.params["new"] == "implemented"
    assert p.public()["code"] == "status_transition_not_allowed" and p.public()["params"]["current"] == "not_started"
    [stale], _ = parse(Table(header=["id", "version", "owner"], rows=[[str(ID), "2", "Herr Müller"]]))
    assert (plan(stale, NOW).code, plan(stale, NOW).params) == ("changed_since_export", {"version": 2, "current_version": 3})
    [sheet_row], _ = parse(row(owner="X"))
    closed = Current(**{**NOW.__dict__, "closed_reason": "recommendation withdrawn: merged"})
    assert (plan(sheet_row, closed).code, plan(sheet_row, closed).params) == (
        "followup_closed",
        {"why": "recommendation withdrawn: merged"},
    )
    assert "code" not in plan(parse(row(owner="Y"))[0][0], NOW).public()  # a change has no reason, so no code
