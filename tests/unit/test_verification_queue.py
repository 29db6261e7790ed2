"""The lead partner's verification queue (services/evaluations/workflow.py awaits_verification)."""

from __future__ import annotations

from services.evaluations.workflow import awaits_verification
from shared.contracts.followups import Response as R
from shared.contracts.followups import Verification as V


def test_an_answer_not_yet_judged_waits_for_the_lead_partner() -> None:
    assert awaits_verification(V.unverified, R.accepted, closed=False)


def test_nothing_waits_before_the_city_answers_after_a_verdict_or_once_closed() -> None:
    assert not awaits_verification(V.unverified, R.pending, closed=False)
    assert not awaits_verification(V.verified, R.accepted, closed=False)
    assert not awaits_verification(V.contested, R.accepted, closed=False)
    assert not awaits_verification(V.unverified, R.accepted, closed=True)
