"""The months the lead partner's "share implemented over time" line has a point for."""

from __future__ import annotations

from datetime import date

from services.evaluations.progress import _month_ends


def test_month_ends_run_from_the_first_month_to_today() -> None:
    assert _month_ends(date(2025, 11, 17), date(2026, 2, 10)) == [
        date(2025, 11, 30),
        date(2025, 12, 31),
        date(2026, 1, 31),
        date(2026, 2, 10),  # the current month's point is today
    ]


def test_a_first_day_in_the_current_month_gives_one_point() -> None:
    assert _month_ends(date(2026, 2, 3), date(2026, 2, 10)) == [date(2026, 2, 10)]


def test_february_of_a_leap_year_ends_on_the_29th() -> None:
    assert _month_ends(date(2028, 2, 1), date(2028, 3, 1))[0] == date(2028, 2, 29)
