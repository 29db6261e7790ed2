"""Every allowed and refused transition of the follow-up workflow, without services."""

import itertools
from datetime import date
from typing import Any

import pytest

from services.evaluations import workflow
from shared.contracts.followups import ImplementationStatus as S
from shared.contracts.followups import Response as R
from shared.contracts.followups import Verification as V
from shared.platform.errors import Conflict, Invalid

ALLOWED = {
    (S.not_started, S.planned),
    (S.not_started, S.in_progress),
    (S.not_started, S.not_implemented),
    (S.not_started, S.overtaken_by_events),
    (S.planned, S.not_started),
    (S.planned, S.in_progress),
    (S.planned, S.implemented),
    (S.planned, S.not_implemented),
    (S.planned, S.overtaken_by_events),
    (S.in_progress, S.planned),
    (S.in_progress, S.implemented),
    (S.in_progress, S.partially_implemented),
    (S.in_progress, S.not_implemented),
    (S.in_progress, S.overtaken_by_events),
    (S.partially_implemented, S.in_progress),
    (S.partially_implemented, S.implemented),
    (S.partially_implemented, S.overtaken_by_events),
    (S.not_implemented, S.planned),
    (S.not_implemented, S.in_progress),
}


@pytest.mark.parametrize(("current", "new"), [p for p in itertools.product(S, S) if p[0] != p[1]])
def test_every_status_transition(current: S, new: S) -> None:
    if (current, new) in ALLOWED:
        workflow.check_status(current, new, R.accepted)
    else:
        with pytest.raises(Conflict, match=f"from {current.value} to {new.value}"):
            workflow.check_status(current, new, R.accepted)


@pytest.mark.parametrize("status", list(S))
def test_staying_in_a_status_is_not_a_transition(status: S) -> None:
    workflow.check_status(status, status, R.accepted)


@pytest.mark.parametrize(("current", "new"), sorted(ALLOWED))
def test_rejected_recommendations_cannot_be_under_way(current: S, new: S) -> None:
    if new in workflow.STATUSES_IF_REJECTED:
        workflow.check_status(current, new, R.rejected)
    else:
        with pytest.raises(Conflict, match="rejected"):
            workflow.check_status(current, new, R.rejected)


@pytest.mark.parametrize(("current", "new"), list(itertools.product(R, R)))
def test_every_response_change(current: R, new: R) -> None:
    if new == R.pending and current != R.pending:
        with pytest.raises(Conflict, match="cannot go back to pending"):
            workflow.check_response(current, new, "because")
    else:
        workflow.check_response(current, new, "because")


@pytest.mark.parametrize("response", [R.rejected, R.noted])
@pytest.mark.parametrize("justification", [None, "", "   "])
def test_rejected_and_noted_need_a_justification(response: R, justification: str | None) -> None:
    with pytest.raises(Invalid, match="justification"):
        workflow.check_response(R.pending, response, justification)


def test_accepting_needs_no_justification() -> None:
    workflow.check_response(R.pending, R.accepted, None)
    workflow.check_response(R.pending, R.partially_accepted, None)


def test_verification_rules() -> None:
    workflow.check_verification(V.verified, R.accepted, None)
    workflow.check_verification(V.contested, R.accepted, "no evidence of the agency")
    with pytest.raises(Invalid, match="needs a `comment`"):
        workflow.check_verification(V.contested, R.accepted, " ")
    with pytest.raises(Conflict, match="not responded"):
        workflow.check_verification(V.verified, R.pending, None)
    with pytest.raises(Invalid):
        workflow.check_verification(V.unverified, R.accepted, None)


def test_final_statuses_allow_nothing_further() -> None:
    assert workflow.STATUS_TRANSITIONS[S.implemented] == frozenset()
    assert workflow.STATUS_TRANSITIONS[S.overtaken_by_events] == frozenset()


@pytest.mark.parametrize(("current", "response"), itertools.product(S, R))
def test_allowed_statuses_are_exactly_those_check_status_accepts(current: S, response: R) -> None:
    accepted = []
    for new in S:
        try:
            workflow.check_status(current, new, response)
        except Conflict:
            continue
        accepted.append(new)
    assert workflow.allowed_statuses(current, response) == accepted


@pytest.mark.parametrize("current", list(R))
def test_allowed_responses_are_exactly_those_check_response_accepts(current: R) -> None:
    accepted = []
    for new in R:
        try:
            workflow.check_response(current, new, "because")
        except Conflict:
            continue
        accepted.append(new)
    assert workflow.allowed_responses(current) == accepted


def test_due_soon_means_due_within_the_window_not_late_open_and_unfinished() -> None:
    is_due_soon = workflow.is_due_soon
    day = date(2026, 11, 27)
    assert is_due_soon(date(2026, 11, 27), S.in_progress, False, day, 14)  # due today
    assert is_due_soon(date(2026, 12, 11), S.planned, False, day, 14)  # the window's last day
    assert not is_due_soon(date(2026, 12, 12), S.planned, False, day, 14)
    assert is_due_soon(date(2026, 12, 12), S.planned, False, day, 15)  # the window is the service's setting
    assert not is_due_soon(date(2026, 11, 26), S.in_progress, False, day, 14)  # late: overdue, not due soon
    assert not is_due_soon(None, S.not_started, False, day, 14)
    assert not is_due_soon(date(2026, 12, 1), S.planned, True, day, 14)  # closed (withdrawn)
    assert all(not is_due_soon(date(2026, 12, 1), status, False, day, 14) for status in workflow.FINAL_STATUSES)


def test_overdue_means_past_due_open_and_unfinished() -> None:
    is_overdue = workflow.is_overdue
    day = date(2026, 11, 27)
    assert is_overdue(date(2026, 11, 26), S.in_progress, False, day)
    assert not is_overdue(date(2026, 11, 27), S.in_progress, False, day)  # due today is not late yet
    assert not is_overdue(None, S.not_started, False, day)
    assert not is_overdue(date(2020, 1, 1), S.planned, True, day)  # closed (withdrawn)
    assert all(not is_overdue(date(2020, 1, 1), status, False, day) for status in workflow.FINAL_STATUSES)


@pytest.mark.parametrize(
    ("refuse", "code", "params"),
    [
        (
            lambda: workflow.check_response(R.accepted, R.pending, None),
            "response_cannot_return_to_pending",
            {"current": "accepted"},
        ),
        (lambda: workflow.check_response(R.pending, R.rejected, " "), "response_needs_justification", {"response": "rejected"}),
        (
            lambda: workflow.check_status(S.not_implemented, S.implemented, R.accepted),
            "status_transition_not_allowed",
            {"current": "not_implemented", "new": "implemented", "allowed": ["in_progress", "planned"]},
        ),
        (
            lambda: workflow.check_status(S.implemented, S.planned, R.accepted),
            "status_is_final",
            {"current": "implemented", "new": "planned"},
        ),
        (
            lambda: workflow.check_status(S.not_started, S.planned, R.rejected),
            "status_contradicts_rejection",
            {"status": "planned"},
        ),
        (lambda: workflow.check_verification(V.unverified, R.accepted, None), "verification_cannot_be_unverified", {}),
        (lambda: workflow.check_verification(V.verified, R.pending, None), "nothing_to_verify", {}),
        (lambda: workflow.check_verification(V.contested, R.accepted, ""), "contest_needs_comment", {}),
    ],
)
def test_every_refusal_has_a_stable_code_and_its_parameters(refuse: Any, code: str, params: dict[str, object]) -> None:
    """The problem+json carries them (DomainError's extra) beside the English detail: the portal words them."""
    with pytest.raises((Conflict, Invalid)) as refused:
        refuse()
    assert refused.value.extra == {"code": code, "params": params}
