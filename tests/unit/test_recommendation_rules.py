"""The recommendation lifecycle rules, without services."""

import itertools
from datetime import date

import pytest

from services.recommendations.domain import Action, check_due_date, next_status
from shared.contracts.recommendations import RecommendationStatus as St
from shared.platform.errors import Conflict, Invalid

EXPECTED = {
    (St.draft, Action.issue): St.issued,
    (St.issued, Action.revise): St.revised,
    (St.revised, Action.revise): St.revised,
    (St.draft, Action.withdraw): St.withdrawn,
    (St.issued, Action.withdraw): St.withdrawn,
    (St.revised, Action.withdraw): St.withdrawn,
}


@pytest.mark.parametrize(("status", "action"), list(itertools.product(St, Action)))
def test_every_transition(status: St, action: Action) -> None:
    if (status, action) in EXPECTED:
        assert next_status(status, action) == EXPECTED[(status, action)]
    else:
        with pytest.raises(Conflict, match=f"cannot {action.value} a {status.value}"):
            next_status(status, action)


def test_due_date_not_before_the_seminar() -> None:
    check_due_date(None, date(2009, 6, 17))
    check_due_date(date(2009, 6, 17), date(2009, 6, 17))
    with pytest.raises(Invalid, match="before the seminar"):
        check_due_date(date(2009, 6, 16), date(2009, 6, 17))
