"""Peer learning, the pure rule: which recommendation to another city is "the same advice".

Two recommendations are peers when they are addressed to different cities and either one names
the other in its `related_ids` (the lead partner said so), or they share their Cluster Initiative
Model dimension and at least one tag. Tags compare without case or surrounding spaces, since they
are typed by hand. No framework, no I/O: unit-tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Advice:
    """What the rule needs of a recommendation and the city it is addressed to."""

    id: str
    city: str
    dimension: str
    tags: tuple[str, ...]
    related_ids: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    related: bool
    shared_tags: tuple[str, ...]


def normalize(tags: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Normalized tag → the tag as first written."""
    found: dict[str, str] = {}
    for tag in tags:
        found.setdefault(" ".join(tag.split()).casefold(), tag)
    return found


def match(subject: Advice, candidate: Advice) -> Match | None:
    """How `candidate` is the same advice as `subject`, or None when it is not (or is the same city's)."""
    if candidate.city == subject.city or candidate.id == subject.id:
        return None
    related = candidate.id in subject.related_ids or subject.id in candidate.related_ids
    shared: tuple[str, ...] = ()
    if candidate.dimension == subject.dimension:
        theirs = normalize(candidate.tags)
        shared = tuple(sorted(tag for key, tag in normalize(subject.tags).items() if key in theirs))
    if not related and not shared:
        return None
    return Match(related=related, shared_tags=shared)
