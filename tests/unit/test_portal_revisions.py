"""The difference between versions of a recommendation (services/portal/revisions.py)."""

from __future__ import annotations

from services.portal.revisions import versions, word_diff


def test_a_word_diff_keeps_the_common_words_and_marks_the_rest() -> None:
    assert word_diff("Hire a cluster manager soon", "Hire a full-time cluster manager") == [
        ("same", "Hire a "),
        ("added", "full-time "),
        ("same", "cluster "),
        ("removed", "manager soon"),
        ("added", "manager"),
    ]


def test_each_version_shows_what_it_changed_against_the_one_before() -> None:
    history = [
        {"version": 1, "action": "drafted", "at": "2026-01-01T10:00:00", "snapshot": {"title": "A", "text": "one two"}},
        {"version": 1, "action": "issued", "at": "2026-01-02T10:00:00", "snapshot": {"title": "A", "text": "one two"}},
        {"version": 2, "action": "revised", "at": "2026-02-01T10:00:00", "snapshot": {"title": "A", "text": "one three"}},
    ]
    newest, issued, drafted = versions(history)
    assert newest["changes"] == {"text": [("same", "one "), ("removed", "two"), ("added", "three")]}
    assert issued["changes"] == {} and drafted["changes"] == {}
