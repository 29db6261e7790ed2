"""The inter-cluster link lifecycle and its checks, without services."""

import itertools
import uuid
from datetime import date

import pytest

from services.recommendations.domain import (
    LINK_WHY_NOT,
    LinkAction,
    check_answers,
    check_link_clusters,
    check_link_dates,
    check_staff_exchange,
    next_link_status,
)
from shared.contracts.recommendations import ClusterLinkKind as Kind
from shared.contracts.recommendations import ClusterLinkStatus as St
from shared.platform.errors import Conflict, Invalid

ALLOWED = {
    (St.proposed, LinkAction.establish): St.established,
    (St.established, LinkAction.activate): St.active,
    (St.active, LinkAction.end): St.ended,
    (St.proposed, LinkAction.cancel): St.cancelled,
    (St.established, LinkAction.cancel): St.cancelled,
}


@pytest.mark.parametrize(("status", "action"), list(itertools.product(St, LinkAction)))
def test_every_transition_is_allowed_or_refused_with_its_reason(status: St, action: LinkAction) -> None:
    if (status, action) in ALLOWED:
        assert next_link_status(status, action) == ALLOWED[(status, action)]
    else:
        with pytest.raises(Conflict, match=f"cannot {action.value} a {status.value} link: ") as refused:
            next_link_status(status, action)
        assert LINK_WHY_NOT[(action, status)] in str(refused.value)


def test_an_active_link_is_ended_not_cancelled() -> None:
    with pytest.raises(Conflict, match="end it instead"):
        next_link_status(St.active, LinkAction.cancel)


def test_clusters_of_two_cities_make_a_link() -> None:
    check_link_clusters([("mediacityuk", "manchester"), ("lyon-cleantech", "lyon")])
    check_link_clusters([("a", "lyon"), ("b", "lyon"), ("c", "leipzig")])  # two of one city are fine beside a third


@pytest.mark.parametrize(
    ("clusters", "detail"),
    [
        ([("a", "lyon"), ("b", "lyon")], "all clusters of the link are in lyon"),
        ([("a", "lyon")], "at least two clusters"),
        ([("a", "lyon"), ("a", "lyon"), ("b", "leipzig")], "named twice: a"),
    ],
)
def test_links_within_one_city_or_of_one_cluster_are_refused(clusters: list[tuple[str, str]], detail: str) -> None:
    with pytest.raises(Invalid, match=detail):
        check_link_clusters(clusters)


def test_dates_must_be_in_order() -> None:
    check_link_dates(date(2010, 1, 1), date(2010, 1, 1))
    check_link_dates(None, date(2010, 1, 1))
    with pytest.raises(Invalid, match="before starts_on"):
        check_link_dates(date(2010, 2, 1), date(2010, 1, 1))


def test_staff_exchange_details_belong_to_staff_exchanges_only() -> None:
    check_staff_exchange(Kind.staff_exchange, "leipzig", ["leipzig", "lyon"])
    check_staff_exchange(Kind.joint_project, None, ["leipzig", "lyon"])
    with pytest.raises(Invalid, match="needs `staff_exchange`"):
        check_staff_exchange(Kind.staff_exchange, None, ["leipzig", "lyon"])
    with pytest.raises(Invalid, match="none of the link's cities"):
        check_staff_exchange(Kind.staff_exchange, "munich", ["leipzig", "lyon"])
    with pytest.raises(Invalid, match="belong to links of kind staff_exchange"):
        check_staff_exchange(Kind.study_visit, "leipzig", ["leipzig", "lyon"])


def test_a_link_answers_only_recommendations_to_its_cities() -> None:
    manchester = uuid.uuid4()
    check_answers({manchester: "manchester"}, ["manchester", "lyon"])
    with pytest.raises(Invalid, match=f"{manchester} \\(to manchester\\)"):
        check_answers({manchester: "manchester"}, ["leipzig", "lyon"])
