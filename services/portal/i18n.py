"""Languages of the portal: Babel catalogues (locales/<lang>/LC_MESSAGES/messages.po) and one
Jinja2 environment per language.

The .po files are the only committed form: they are compiled in memory at start (Babel's
read_po + write_mo), so no compiled .mo can drift from its .po and no build step is needed.
One environment per language (rather than switching one environment's gettext per request)
keeps concurrent requests in different languages from ever seeing each other's catalogue.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from babel.units import format_unit
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.portal import labels
from shared.contracts.common import Dimension, Language

LANGUAGES = tuple(Language)  # the catalogues in locales/, one per language a person may choose
DEFAULT = "en"
LOCALES = Path(__file__).with_name("locales")
TEMPLATES = Path(__file__).with_name("templates")


def catalogue_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / "messages.po"


def load_translations(language: str) -> Translations:
    with catalogue_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


def negotiate(accept_language: str | None) -> str:
    """The best of our languages for an Accept-Language header, else English."""
    wanted = []
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag:
            wanted.append((q, tag.strip().replace("-", "_")))
    preferred = [tag for _, tag in sorted(wanted, key=lambda w: -w[0])]
    return str(Locale.negotiate(preferred, LANGUAGES, sep="_") or DEFAULT) if preferred else DEFAULT


class Pages:
    """Renders templates in a language, with that locale's dates and numbers."""

    def __init__(self) -> None:
        self.environments: dict[str, Environment] = {}
        self.translations: dict[str, Translations] = {}
        for language in LANGUAGES:
            env = Environment(
                loader=FileSystemLoader(TEMPLATES),
                autoescape=select_autoescape(default=True, default_for_string=True),
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            translations = load_translations(language)
            env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
            env.globals.update(formatting(language))
            env.globals["t"] = _code_translator(translations)
            env.globals["DIMENSIONS"] = tuple(Dimension)  # the Cluster Initiative Model's, in its order
            env.globals["explain"] = _refusal_explainer(translations)
            self.environments[language] = env
            self.translations[language] = translations

    def render(self, language: str, template: str, **context: Any) -> str:
        env = self.environments.get(language, self.environments[DEFAULT])
        return env.get_template(template).render(language=language, **context)

    def gettext(self, language: str) -> Callable[[str], str]:
        return self.translations.get(language, self.translations[DEFAULT]).gettext


def _code_translator(translations: Translations) -> Callable[[str | None], str]:
    """A service code's translated label; anything else (people's text) comes back as it is,
    to be autoescaped like any value (never through gettext, whose newstyle result is Markup)."""

    def t(code: str | None) -> str:
        if code is None:
            return ""
        return translations.gettext(labels.LABELS[code]) if code in labels.LABELS else code

    return t


def _refusal_explainer(translations: Translations) -> Callable[[str | Mapping[str, Any] | None], str]:
    """A service's refusal (a problem+json, or a spreadsheet row with its `reason`) in the
    person's language when its `code` is one the portal words (labels.REFUSALS), else its
    `detail` (or `reason`) as the service worded it. A bare string is such a detail already."""
    t = _code_translator(translations)

    def words(value: Any) -> Any:
        if isinstance(value, str):
            return t(value)
        if isinstance(value, list):
            return ", ".join(t(str(v)) for v in value)
        return value

    def explain(refusal: str | Mapping[str, Any] | None) -> str:
        if refusal is None or isinstance(refusal, str):
            return refusal or ""
        detail = str(refusal.get("detail") or refusal.get("reason") or "")
        code, params = refusal.get("code"), refusal.get("params")
        if not isinstance(code, str) or code not in labels.REFUSALS or not isinstance(params, dict):
            return detail
        try:
            return translations.gettext(labels.REFUSALS[code]) % {k: words(v) for k, v in params.items()}
        except (KeyError, TypeError, ValueError):  # a parameter the message expects is missing: the service's words
            return detail

    return explain


def formatting(language: str) -> dict[str, Callable[..., str]]:
    try:
        locale = Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        locale = Locale.parse(DEFAULT)

    def fmt_date(value: date | str | None) -> str:
        if not value:
            return ""
        parsed = date.fromisoformat(value[:10]) if isinstance(value, str) else value
        return format_date(parsed, format="medium", locale=locale)

    def fmt_datetime(value: datetime | str | None) -> str:
        if not value:
            return ""
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_datetime(parsed, format="medium", locale=locale)

    def fmt_month(value: str | None, *, long: bool = False) -> str:
        """A month ("2026-11", as the timeline gives it) in the locale's words: "Nov 2026",
        "nov. 2026", "Nov. 2026" (long: "November 2026")."""
        if not value:
            return ""
        first = date.fromisoformat(f"{value[:7]}-01")
        return format_skeleton("yMMMM" if long else "yMMM", first, locale=locale)

    def fmt_number(value: float | int) -> str:
        return format_decimal(value, locale=locale)

    def fmt_percent(value: float) -> str:
        return format_percent(value, locale=locale)

    def fmt_size(value: int | None) -> str:
        if value is None:
            return ""
        if value < 1_000_000:
            return format_unit(max(1, round(value / 1000)), "digital-kilobyte", length="short", locale=locale)
        return format_unit(round(value / 1_000_000, 1), "digital-megabyte", length="short", locale=locale)

    return {
        "fmt_date": fmt_date,
        "fmt_datetime": fmt_datetime,
        "fmt_month": fmt_month,
        "fmt_number": fmt_number,
        "fmt_percent": fmt_percent,
        "fmt_size": fmt_size,
    }
