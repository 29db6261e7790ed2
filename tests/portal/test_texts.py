"""The portal's words without services: event types labelled and grouped, bars in the model's
order, months in the locale's words, and a service's refusal worded from its code."""

from __future__ import annotations

from typing import Any

from services.portal import charts, i18n, labels
from services.portal.api import EVENT_TYPES


def test_every_event_type_a_person_may_follow_has_a_label_and_a_group_order() -> None:
    assert all(code in labels.LABELS for code in EVENT_TYPES)
    assert EVENT_TYPES == list(labels.EVENT_ORDER)
    groups = [code.split(".")[0] for code in EVENT_TYPES]
    assert list(dict.fromkeys(groups)) == ["seminar", "recommendation", "followup", "cluster_link"]
    assert labels.event_order({"zzz.new", "followup.opened", "seminar.held"}) == ["seminar.held", "followup.opened", "zzz.new"]


def test_bars_follow_the_cluster_initiative_model() -> None:
    keys = ("processes", "setting", "objectives")
    groups: list[dict[str, Any]] = [{"key": k, "total": 1, "implemented_share": 0.0, "by_status": {"planned": 1}} for k in keys]
    assert [b["key"] for b in charts.bars(groups)] == ["setting", "objectives", "processes"]


def test_months_in_the_locale_words() -> None:
    assert i18n.formatting("en")["fmt_month"]("2026-11") == "Nov 2026"
    assert i18n.formatting("fr")["fmt_month"]("2026-11", long=True) == "novembre 2026"
    assert i18n.formatting("de")["fmt_month"]("2026-03", long=True) == "März 2026"


def test_a_refusal_is_worded_from_its_code_in_the_person_language_else_as_the_service_said() -> None:
    pages = i18n.Pages()
    explain = {lang: pages.environments[lang].globals["explain"] for lang in i18n.LANGUAGES}
    transition = {
        "detail": "implementation status cannot go from not_implemented to implemented (allowed …)",
        "code": "status_transition_not_allowed",
        "params": {"current": "not_implemented", "new": "implemented", "allowed": ["in_progress", "planned"]},
    }
    assert explain["en"](transition) == (
        "The implementation status cannot go from “Not implemented” to “Implemented”. "
        "From “Not implemented” it can go to: In progress, Planned."
    )
    assert "„Nicht umgesetzt“" in explain["de"](transition) and "Umgesetzt" in explain["de"](transition)
    final = {"detail": "…", "code": "status_is_final", "params": {"current": "implemented", "new": "planned"}}
    assert explain["fr"](final) == "L’état de mise en œuvre « Mis en œuvre » est définitif : il ne peut plus changer."
    justify = {"detail": "x", "code": "response_needs_justification", "params": {"response": "rejected"}}
    assert explain["de"](justify) == "Die Antwort „Abgelehnt“ braucht eine Begründung: Schreiben Sie sie in den Kommentar."
    assert explain["en"]({"detail": "file type not accepted"}) == "file type not accepted"  # no code: the service's words
    assert explain["en"]({"detail": "d", "code": "unknown_code", "params": {}}) == "d"
    assert explain["en"]({"detail": "d", "code": "response_needs_justification", "params": {}}) == "d"  # a missing parameter
    assert explain["en"]({"reason": "a row's reason"}) == "a row's reason"  # a spreadsheet row
    assert explain["en"]("plain") == "plain" and explain["en"](None) == ""
