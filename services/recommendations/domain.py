"""The rules of a recommendation's life, free of any framework (unit-tested without services)."""

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from enum import StrEnum

from shared.contracts.recommendations import ClusterLinkKind as LinkKind
from shared.contracts.recommendations import ClusterLinkStatus as LinkStatus
from shared.contracts.recommendations import RecommendationStatus as Status
from shared.contracts.recommendations import SeminarStatus
from shared.platform.errors import Conflict, Invalid


class Action(StrEnum):
    issue = "issue"
    revise = "revise"
    withdraw = "withdraw"


# What each action may start from, and where it leads.
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    Action.issue: (frozenset({Status.draft}), Status.issued),
    Action.revise: (frozenset({Status.issued, Status.revised}), Status.revised),
    Action.withdraw: (frozenset({Status.draft, Status.issued, Status.revised}), Status.withdrawn),
}

WHY_NOT = {
    (Action.issue, Status.issued): "it is already issued; revise it to change it",
    (Action.issue, Status.revised): "it is already issued (and revised); revise it again to change it",
    (Action.issue, Status.withdrawn): "it was withdrawn; draft a new recommendation instead",
    (Action.revise, Status.draft): "a draft is not issued yet; issue it first (drafts need no revision)",
    (Action.revise, Status.withdrawn): "it was withdrawn; a withdrawn recommendation cannot change",
    (Action.withdraw, Status.withdrawn): "it is already withdrawn",
}


def next_status(current: Status, action: Action) -> Status:
    allowed, target = TRANSITIONS[action]
    if current not in allowed:
        raise Conflict(f"cannot {action.value} a {current.value} recommendation: {WHY_NOT[(action, current)]}")
    return target


def check_due_date(due: date | None, seminar_held_on: date) -> None:
    if due is not None and due < seminar_held_on:
        raise Invalid(f"due_date {due.isoformat()} is before the seminar ({seminar_held_on.isoformat()})")


def holdable(status: SeminarStatus) -> None:
    """Only a scheduled seminar can be marked as held (held → held would hide a double click)."""
    if status != SeminarStatus.scheduled:
        raise Conflict(f"cannot mark a {status.value} seminar as held: only a scheduled seminar can be")


def report_publishable(status: SeminarStatus) -> None:
    if status == SeminarStatus.report_published:
        raise Conflict("the seminar report is already published; issue further recommendations one by one")


# Inter-cluster links ------------------------------------------------------------------------
class LinkAction(StrEnum):
    establish = "establish"
    activate = "activate"
    end = "end"
    cancel = "cancel"


# proposed → established → active → ended; cancelled only before the link became active.
LINK_TRANSITIONS: dict[LinkAction, tuple[frozenset[LinkStatus], LinkStatus]] = {
    LinkAction.establish: (frozenset({LinkStatus.proposed}), LinkStatus.established),
    LinkAction.activate: (frozenset({LinkStatus.established}), LinkStatus.active),
    LinkAction.end: (frozenset({LinkStatus.active}), LinkStatus.ended),
    LinkAction.cancel: (frozenset({LinkStatus.proposed, LinkStatus.established}), LinkStatus.cancelled),
}

_FINAL_WHY = {
    LinkStatus.ended: "it has ended; propose a new link to continue the cooperation",
    LinkStatus.cancelled: "it was cancelled; propose a new link instead",
}
LINK_WHY_NOT: dict[tuple[LinkAction, LinkStatus], str] = {
    (LinkAction.establish, LinkStatus.established): "it is already established",
    (LinkAction.establish, LinkStatus.active): "it is already active",
    (LinkAction.activate, LinkStatus.proposed): "it is only proposed; establish it first",
    (LinkAction.activate, LinkStatus.active): "it is already active",
    (LinkAction.end, LinkStatus.proposed): "it never became active; cancel it instead",
    (LinkAction.end, LinkStatus.established): "it never became active; cancel it instead",
    (LinkAction.cancel, LinkStatus.active): "it is active; end it instead (only a link that never became active is cancelled)",
    **{(action, final): why for action in LinkAction for final, why in _FINAL_WHY.items()},
}


def next_link_status(current: LinkStatus, action: LinkAction) -> LinkStatus:
    allowed, target = LINK_TRANSITIONS[action]
    if current not in allowed:
        raise Conflict(f"cannot {action.value} a {current.value} link: {LINK_WHY_NOT[(action, current)]}")
    return target


def check_link_clusters(clusters: Sequence[tuple[str, str]]) -> None:
    """`clusters` as (slug, city): two or more distinct clusters, in at least two partner cities."""
    slugs = [slug for slug, _ in clusters]
    if duplicates := sorted({s for s in slugs if slugs.count(s) > 1}):
        raise Invalid(f"clusters are named twice: {', '.join(duplicates)}")
    if len(slugs) < 2:
        raise Invalid("an inter-cluster link needs at least two clusters")
    cities = {city for _, city in clusters}
    if len(cities) < 2:
        raise Invalid(
            f"all clusters of the link are in {cities.pop()}: an inter-cluster link joins clusters of different partner cities"
        )


def check_link_dates(starts_on: date | None, ends_on: date | None) -> None:
    if starts_on and ends_on and ends_on < starts_on:
        raise Invalid(f"ends_on {ends_on.isoformat()} is before starts_on {starts_on.isoformat()}")


def check_staff_exchange(kind: LinkKind, home_city: str | None, cities: Sequence[str]) -> None:
    """A staff exchange names the person's home city, one of the link's cities; other kinds name none."""
    if kind != LinkKind.staff_exchange:
        if home_city is not None:
            raise Invalid(f"staff_exchange details belong to links of kind staff_exchange, not {kind.value}")
        return
    if home_city is None:
        raise Invalid("a staff_exchange link needs `staff_exchange`: the person, their home city and (later) what they learned")
    if home_city not in cities:
        raise Invalid(f"the person's home city {home_city!r} is none of the link's cities ({', '.join(cities)})")


def check_answers(targets: Mapping[uuid.UUID, str], cities: Sequence[str]) -> None:
    """A link answers a recommendation only if it involves a cluster of the city it is addressed to."""
    strangers = [f"{rec_id} (to {city})" for rec_id, city in targets.items() if city not in cities]
    if strangers:
        raise Invalid(f"the link involves none of the cities these recommendations are addressed to: {', '.join(strangers)}")
