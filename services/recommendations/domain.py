"""The rules of a recommendation's life, free of any framework (unit-tested without services)."""

from datetime import date
from enum import StrEnum

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
