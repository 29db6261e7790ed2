"""Shaping the services' answers for the pages: grouping, ordering, comparing. Pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FORM_FIELDS = ("response", "implementation_status", "responsible_body", "owner", "planned_completion", "notes")


def urgency(followup: dict[str, Any]) -> int:
    """0 overdue, 1 due soon, 2 the rest: the order a city official works in. Both marks come from
    the evaluations service, which owns the rules and the due-soon window (`workflow.is_due_soon`)."""
    return 0 if followup.get("overdue") else 1 if followup.get("due_soon") else 2


def group_by_seminar(
    followups: Iterable[dict[str, Any]], seminars: dict[str, dict[str, Any]]
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Follow-ups grouped by seminar; the most urgent first, within groups and among them."""
    ordered = sorted(followups, key=lambda f: (urgency(f), f.get("due_date") or "9999", f["recommendation_title"]))
    groups: dict[str, list[dict[str, Any]]] = {}
    for f in ordered:
        f = {**f, "urgency": urgency(f)}
        groups.setdefault(f["seminar_id"], []).append(f)
    unknown = {"id": "", "theme": "?", "host_city": "", "held_on": None}
    return [(seminars.get(sid, unknown), items) for sid, items in groups.items()]


PEERS_SHOWN = 20  # one common tag made hundreds of "the same advice elsewhere" rows on every follow-up page


def closest_peers(peers: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The peers the city learns most from first: named as related, then by the tags shared, then
    those with public evidence to read; up to PEERS_SHOWN of them."""
    ranked = sorted(peers, key=lambda p: (not p["related"], -len(p["shared_tags"]), not p["evidence"], p["city"]))
    return ranked[:PEERS_SHOWN]


def partner_cities(partners: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The partners that are cities (the others, e.g. a regional agency, host no seminar and have no officials)."""
    return [p for p in partners if p.get("kind", "city") == "city"]


def form_values(source: dict[str, Any]) -> dict[str, str]:
    """A follow-up's (or a posted form's) editable fields as form strings."""
    return {name: "" if source.get(name) is None else str(source.get(name)) for name in FORM_FIELDS}


def posted_fields(posted: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The follow-up fields of a posted form (`was_<field>`: what the page showed)."""
    return {name: str(posted.get(prefix + name, ""))[:20_000] for name in FORM_FIELDS if prefix + name in posted}


def changed(form: dict[str, str], was: dict[str, str]) -> list[str]:
    """The fields this person changed on their page."""
    return [name for name in FORM_FIELDS if name in form and form[name].strip() != was.get(name, "").strip()]


def conflicts(form: dict[str, str], was: dict[str, str], theirs: dict[str, str]) -> list[tuple[str, str, str]]:
    """(field, your value, the saved value) for each field this person changed that now reads otherwise."""
    return [
        (name, form[name], theirs.get(name, ""))
        for name in changed(form, was)
        if form[name].strip() != theirs.get(name, "").strip()
    ]


def rebase(form: dict[str, str], was: dict[str, str], theirs: dict[str, str]) -> dict[str, str]:
    """The saved version with this person's changes on top: what the form offers to save again."""
    return {**theirs, **{name: form[name] for name in changed(form, was)}}


def patch_body(form: dict[str, str], comment: str, was: dict[str, str] | None = None) -> dict[str, Any]:
    """What the form asks evaluations to set (an emptied field becomes null): only the fields this
    person changed, so a save changes nothing else and a save that changes nothing bumps no version."""
    fields = changed(form, was) if was is not None else [name for name in FORM_FIELDS if name in form]
    body: dict[str, Any] = {name: (form[name].strip() or None) for name in fields}
    for required in ("response", "implementation_status"):
        if not body.get(required):
            body.pop(required, None)
    if comment.strip():
        body["comment"] = comment.strip()
    return body


def previous_text(history: list[dict[str, Any]], current_version: int) -> dict[str, Any] | None:
    """The recommendation as it read before its latest revision, if it was revised."""
    if current_version <= 1:
        return None
    earlier = [h for h in history if h.get("version", 0) < current_version and h.get("snapshot")]
    return max(earlier, key=lambda h: h["version"])["snapshot"] if earlier else None


@dataclass(frozen=True)
class PageOf:
    """One page of a list that is shown a page at a time: its items, and where it stands."""

    items: list[dict[str, Any]]
    number: int
    pages: int
    first: int  # the 1-based positions of its first and last item in the whole list
    last: int
    total: int


def page_of(items: Sequence[dict[str, Any]], number: int, size: int) -> PageOf:
    """Page `number` (from 1; one past the end shows the last) of `items`, `size` to a page."""
    pages = max(1, -(-len(items) // size))
    number = min(max(number, 1), pages)
    start = (number - 1) * size
    shown = list(items[start : start + size])
    return PageOf(shown, number, pages, start + 1 if shown else 0, start + len(shown), len(items))


def public_overview(
    seminars: list[dict[str, Any]],
    recommendations: list[dict[str, Any]],
    followups: list[dict[str, Any]],
    evidence: dict[str, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Seminars (in the order given) → their issued recommendations → each city's response, status
    and public evidence."""
    by_recommendation: dict[str, list[dict[str, Any]]] = {}
    for f in followups:
        public = [e for e in evidence.get(f["id"], []) if e.get("public")]  # belt and braces: the service already filters
        by_recommendation.setdefault(f["recommendation_id"], []).append(
            {
                "city": f["city"],
                "response": f["response"],
                "implementation_status": f["implementation_status"],
                "evidence": public,
            }
        )
    result = []
    for seminar in seminars:
        recs = [
            {**r, "cities": sorted(by_recommendation.get(r["id"], []), key=lambda c: c["city"])}
            for r in recommendations
            if r["seminar_id"] == seminar["id"] and r["status"] in ("issued", "revised")
        ]
        result.append({**seminar, "recommendations": recs})  # none left in force: the page says so
    return result
