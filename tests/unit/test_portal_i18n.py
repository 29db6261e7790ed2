"""Every message of the portal (templates and Python) has a translation in every catalogue, with
the same placeholders; and the language choice and locale formats behave."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from services.portal import i18n

PORTAL = Path(i18n.__file__).parent
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extracted() -> set[str | tuple[str, ...]]:
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found: set[str | tuple[str, ...]] = set()
    for _, _, message, _, _ in extract_from_dir(PORTAL, METHODS, OPTIONS, keywords):
        found.add(message if isinstance(message, str) else tuple(m for m in message if m))
    return found


def test_the_sources_have_messages() -> None:
    messages = extracted()
    assert "Sign in" in messages and "Implemented" in messages and ("%(num)s follow-up", "%(num)s follow-ups") in messages


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_message_is_translated(language: str) -> None:
    with i18n.catalogue_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    missing = []
    for message in extracted():
        key = message if isinstance(message, str) else message[0]
        entry = catalog.get(key)
        strings = [] if entry is None else ([entry.string] if isinstance(entry.string, str) else list(entry.string))
        if entry is None or entry.fuzzy or not strings or not all(strings):
            missing.append(key)
    assert not missing, (
        f"{language}: no translation for {sorted(missing)} (run pybabel extract/update, see services/portal/README.md)"
    )
    problems = [(m.id, errors) for m, errors in catalog.check()]
    assert not problems, f"{language}: placeholders differ: {problems}"


def test_language_negotiation() -> None:
    assert i18n.negotiate("fr-FR,fr;q=0.9,en;q=0.5") == "fr"
    assert i18n.negotiate("de-AT") == "de"
    assert i18n.negotiate("es-ES, en;q=0.1") == "en"
    assert i18n.negotiate("pl-PL") == "en"
    assert i18n.negotiate(None) == "en"
    assert i18n.negotiate("en;q=0.2, de;q=0.8") == "de"


def test_dates_and_numbers_in_the_locale_format() -> None:
    day = date(2026, 3, 5)
    assert i18n.formatting("en")["fmt_date"](day) == "Mar 5, 2026"
    assert i18n.formatting("fr")["fmt_date"](day) == "5 mars 2026"
    assert i18n.formatting("de")["fmt_date"](day) == "05.03.2026"
    assert i18n.formatting("de")["fmt_number"](1234.5) == "1.234,5"
    assert i18n.formatting("fr")["fmt_number"](1234.5).replace("\u202f", " ") == "1 234,5"


def test_codes_are_translated_and_people_text_is_not() -> None:
    pages = i18n.Pages()
    t = pages.environments["de"].globals["t"]
    assert t("implemented") == "Umgesetzt"
    assert t("<b>someone's owner</b>") == "<b>someone's owner</b>"  # returned as plain text, autoescaped by Jinja
    html = pages.render("de", "error.html", status=404, message=None, person=None, csrf_token="x", path="/")
    assert "Seite nicht gefunden" in html


def test_the_dashboard_lists_the_longest_overdue_and_the_latest_changes_and_says_of_how_many() -> None:
    """A programme's thousands of overdue follow-ups made a 3 MB dashboard: it shows LISTED of
    them, says of how many, and links to the list of every one (not on a past day's view: that
    list is today's)."""
    from services.portal import charts
    from services.portal.dashboard import LISTED

    overdue = [
        {
            "id": f"f{n}",
            "city": "leipzig",
            "recommendation_title": f"R{n}",
            "due_date": date(2020, 1, 1),
            "implementation_status": "planned",
        }
        for n in range(LISTED + 10)
    ]
    context = {
        "person": {"name": "Claire", "role": "lead_partner", "city": None},
        "csrf_token": "x",
        "path": "/dashboard",
        "as_of": date(2026, 11, 28),
        "today": "2026-11-28",
        "matrix": charts.matrix([]),
        "bars": charts.bars([]),
        "bar_width": charts.BAR_WIDTH,
        "listed": LISTED,
        "line": charts.line([]),
        "statuses": charts.STATUSES,
        "updated": datetime.now(UTC),
        "since": None,
        "changed": [],
    }
    pages = i18n.Pages()
    many = pages.render("en", "dashboard.html", **context, past=False, overdue=overdue)
    assert many.count('href="/follow-ups/f') == LISTED
    assert f"The {LISTED} longest overdue of {LISTED + 10}." in many and 'href="/city?overdue=true"' in many
    past = pages.render("en", "dashboard.html", **context, past=True, overdue=overdue)
    assert "longest overdue of" in past and "/city?overdue=true" not in past
    few = pages.render("en", "dashboard.html", **context, past=False, overdue=overdue[:3])
    assert few.count('href="/follow-ups/f') == 3 and "longest overdue" not in few
    changes = [{**o, "response": "accepted", "updated_at": datetime.now(UTC)} for o in overdue]
    since = datetime.now(UTC)
    changed = pages.render("en", "dashboard.html", **{**context, "since": since, "changed": changes}, past=False, overdue=[])
    assert changed.count('<tr data-followup="f') == LISTED and f"The {LISTED} latest of {LISTED + 10} changes." in changed


def test_the_delivery_log_pages_through_a_state_and_keeps_it() -> None:
    """It showed the first 100 deliveries of a state and no more."""
    delivery = {"id": "d1", "status": "delivered", "event_type": "x", "channel": "email", "attempts": 1, "last_error": None}
    context = {"person": {"name": "Ada", "role": "admin", "city": None}, "csrf_token": "x", "path": "/admin/deliveries"}
    rows = [{**delivery, "created_at": datetime.now(UTC)}] * 100
    pages = i18n.Pages()
    middle = pages.render(
        "en",
        "admin_deliveries.html",
        **context,
        deliveries=rows,
        status="delivered",
        offset=100,
        per_page=100,
        next_offset=200,
        retried=None,
    )
    assert 'href="?status=delivered&amp;offset=0">Previous deliveries' in middle
    assert 'href="?status=delivered&amp;offset=200">Next deliveries' in middle and "Deliveries 101–200" in middle
    only = pages.render(
        "en",
        "admin_deliveries.html",
        **context,
        deliveries=rows[:3],
        status="dead",
        offset=0,
        per_page=100,
        next_offset=None,
        retried=None,
    )
    assert "Next deliveries" not in only and "Previous deliveries" not in only
