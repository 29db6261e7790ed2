"""The dashboard's drawing (services/portal/charts.py): placing the services' numbers, no more."""

from __future__ import annotations

from typing import Any

from services.portal import charts


def cell(city: str, seminar: str, status: str, title: str = "R", rec: str = "r1") -> dict[str, Any]:
    return {
        "id": f"{city}-{seminar}-{title}",
        "city": city,
        "seminar_id": seminar,
        "seminar_host_city": f"host-{seminar}",
        "seminar_theme": f"theme {seminar}",
        "recommendation_id": rec,
        "recommendation_title": title,
        "dimension": "processes",
        "response": "accepted",
        "implementation_status": status,
        "overdue": False,
    }


def test_the_matrix_puts_each_follow_up_in_its_city_and_seminar() -> None:
    m = charts.matrix([cell("lyon", "s1", "planned"), cell("leipzig", "s1", "implemented"), cell("lyon", "s2", "in_progress")])
    assert m.cities == ["leipzig", "lyon"]
    assert [s["id"] for s in m.seminars] == ["s1", "s2"]
    assert [c["implementation_status"] for c in m.cells[("lyon", "s1")]] == ["planned"]
    assert ("leipzig", "s2") not in m.cells


def test_a_bar_is_split_by_status_in_proportion_and_fills_the_width() -> None:
    group = {
        "key": "processes",
        "total": 4,
        "implemented_share": 0.5,
        "by_status": {"implemented": 2, "planned": 1, "not_started": 1},
    }
    [bar] = charts.bars([group])
    assert [(s["status"], s["width"]) for s in bar["segments"]] == [
        ("implemented", 200.0),
        ("planned", 100.0),
        ("not_started", 100.0),
    ]
    assert bar["segments"][-1]["x"] + bar["segments"][-1]["width"] == charts.BAR_WIDTH


def test_the_line_puts_0_percent_at_the_bottom_and_100_percent_on_top() -> None:
    points = [{"month": "2026-10", "implemented_share": 0.0}, {"month": "2026-11", "implemented_share": 1.0}]
    drawn = charts.line(points)
    assert drawn["points"][0]["y"] == drawn["bottom"] and drawn["points"][1]["y"] == drawn["top"]
    assert drawn["points"][0]["x"] == drawn["left"] and drawn["points"][1]["x"] == drawn["right"]


def test_the_export_carries_the_recommendation_text_in_the_matrix_order() -> None:
    with_text = [{**cell("lyon", "s1", "planned"), "recommendation_text": "Do it."}, cell("leipzig", "s1", "implemented")]
    rows = charts.export_rows("2026-11-27", with_text)
    assert [r[1] for r in rows] == ["leipzig", "lyon"]
    assert rows[1][charts.EXPORT_COLUMNS.index("recommendation_text")] == "Do it."
