"""The follow-up workflow: which responses, statuses and verifications may follow which.

Pure rules, no framework and no database: every allowed and refused transition is unit-tested.
Two axes are kept apart, as in the best recommendation trackers: the city's *response* (does it
agree?) and the *implementation status* (what has it done?). The lead partner's *verification*
is a third, separate from what the city reports about itself.

Each refusal carries, beside its English `detail`, a stable `code` and its `params` (members of
the problem+json, through DomainError's `extra`): the portal words them in the person's language.
"""

from __future__ import annotations

from datetime import date, timedelta

from shared.contracts.followups import ImplementationStatus as S
from shared.contracts.followups import Response as R
from shared.contracts.followups import Verification as V
from shared.platform.errors import Conflict, Invalid

NEEDS_JUSTIFICATION = frozenset({R.rejected, R.noted})
FINAL_STATUSES = frozenset({S.implemented, S.not_implemented, S.overtaken_by_events})

STATUS_TRANSITIONS: dict[S, frozenset[S]] = {
    S.not_started: frozenset({S.planned, S.in_progress, S.not_implemented, S.overtaken_by_events}),
    S.planned: frozenset({S.not_started, S.in_progress, S.implemented, S.not_implemented, S.overtaken_by_events}),
    S.in_progress: frozenset({S.planned, S.implemented, S.partially_implemented, S.not_implemented, S.overtaken_by_events}),
    S.partially_implemented: frozenset({S.in_progress, S.implemented, S.overtaken_by_events}),
    S.not_implemented: frozenset({S.planned, S.in_progress}),  # the city reconsiders
    S.implemented: frozenset(),
    S.overtaken_by_events: frozenset(),
}


def is_overdue(due_date: date | None, status: S, closed: bool, day: date) -> bool:
    """The one overdue rule: past its due date on `day`, still open and not finished. (The
    repository's SQL filter `overdue_on` states the same rule for queries; a test holds them equal.)"""
    return due_date is not None and due_date < day and not closed and status not in FINAL_STATUSES


def is_due_soon(due_date: date | None, status: S, closed: bool, day: date, within_days: int) -> bool:
    """The one due-soon rule: due within `within_days` of `day` (and not yet late), still open and
    not finished; what `followup.due_soon` announces and what a city's pages put first after the
    overdue ones. (The scheduler's query, `repository.due_candidates`, selects the same, less the
    deadlines whose notice is already sent.)"""
    if due_date is None or closed or status in FINAL_STATUSES:
        return False
    return day <= due_date <= day + timedelta(days=within_days)


# A rejected recommendation cannot be under way: only these statuses go with it.
STATUSES_IF_REJECTED = frozenset({S.not_started, S.not_implemented})


def check_response(current: R, new: R, justification: str | None) -> None:
    if new == R.pending and current != R.pending:
        raise Conflict(
            f"the response is already {current.value}; it cannot go back to pending",
            code="response_cannot_return_to_pending",
            params={"current": current.value},
        )
    if new in NEEDS_JUSTIFICATION and not (justification and justification.strip()):
        raise Invalid(
            f"a {new.value} response needs a justification in `comment`",
            code="response_needs_justification",
            params={"response": new.value},
        )


def check_status(current: S, new: S, response: R) -> None:
    """`new` may equal `current` (the status stays) but must still agree with the response."""
    if new != current and new not in STATUS_TRANSITIONS[current]:
        allowed = sorted(s.value for s in STATUS_TRANSITIONS[current])
        if not allowed:
            raise Conflict(
                f"implementation status cannot go from {current.value} to {new.value}: {current.value} is final",
                code="status_is_final",
                params={"current": current.value, "new": new.value},
            )
        raise Conflict(
            f"implementation status cannot go from {current.value} to {new.value} "
            f"(allowed from {current.value}: {', '.join(allowed)})",
            code="status_transition_not_allowed",
            params={"current": current.value, "new": new.value, "allowed": allowed},
        )
    if response == R.rejected and new not in STATUSES_IF_REJECTED:
        raise Conflict(
            f"the city rejected this recommendation; status {new.value} contradicts that (change the response first)",
            code="status_contradicts_rejection",
            params={"status": new.value},
        )


def allowed_statuses(current: S, response: R) -> list[S]:
    """The statuses a city may set now (the current one included): what the portal offers."""
    candidates = {current, *STATUS_TRANSITIONS[current]}
    if response == R.rejected:
        candidates &= STATUSES_IF_REJECTED
    return [s for s in S if s in candidates]


def allowed_responses(current: R) -> list[R]:
    """The responses a city may give now (the current one included)."""
    return [r for r in R if not (r == R.pending and current != R.pending)]


def awaits_verification(verification: V, response: R, closed: bool) -> bool:
    """The lead partner's queue: a city has answered (or changed its answer, which resets the
    verification) and nobody has verified or contested it since. The repository's filter
    `awaiting_verification` says the same in SQL."""
    return verification == V.unverified and response != R.pending and not closed


def check_verification(new: V, response: R, comment: str | None) -> None:
    if new == V.unverified:
        raise Invalid(
            "verification is `verified` or `contested`; a city's change resets it to unverified",
            code="verification_cannot_be_unverified",
            params={},
        )
    if response == R.pending:
        raise Conflict("the city has not responded yet: there is nothing to verify", code="nothing_to_verify", params={})
    if new == V.contested and not (comment and comment.strip()):
        raise Invalid("contesting a city's status needs a `comment` saying why", code="contest_needs_comment", params={})
