"""The portal's shaping of import previews (pure): counts, pages of rows, conflicts side by side."""

from __future__ import annotations

from services.portal import sheet_views


def test_counts_group_repeats_of_any_row() -> None:
    preview = {"rows": [{"action": "create"}, {"action": "exists"}, {"action": "repeats row 2"}, {"action": "repeats row 3"}]}
    assert sheet_views.counts(preview) == {"create": 1, "exists": 1, "repeats": 2}
    assert sheet_views.repeated_row("repeats row 12") == "12"


def test_rows_come_page_by_page_refusals_and_conflicts_first_unchanged_last() -> None:
    rows = [{"row": n, "action": "change"} for n in range(2, 122)]
    rows[70]["action"], rows[100]["action"], rows[0]["action"] = "conflict", "refused", "unchanged"
    first, page, pages = sheet_views.rows_page({"rows": rows}, 1)
    assert (page, pages, len(first)) == (1, 3, 50)
    assert [r["row"] for r in first[:3]] == [72, 102, 3]
    last, page, _ = sheet_views.rows_page({"rows": rows}, 99)  # clamped to the last page
    assert page == 3 and len(last) == 20 and last[-1]["row"] == 2  # unchanged rows last
    assert sheet_views.rows_page({"rows": []}, 1) == ([], 1, 1)


def test_a_conflict_shows_only_the_fields_that_differ() -> None:
    row = {
        "sheet": {"owner": "A", "implementation_status": "planned"},
        "current": {"owner": "B", "implementation_status": "planned"},
    }
    assert sheet_views.side_by_side(row) == [("owner", "A", "B")]


def test_the_portal_keeps_a_summary_of_each_row_not_its_text() -> None:
    preview = {"rows": [{"row": 2, "title": "T", "text": "long text", "action": "create", "key": "k"}], "errors": []}
    kept = sheet_views.kept_preview(preview)
    assert kept["rows"] == [{"row": 2, "title": "T", "action": "create"}]
    assert sheet_views.job_percent({"progress": 0.4567}) == 46
