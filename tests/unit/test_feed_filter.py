"""Which events the feed (`GET /events`) gives a reader: pure rules, no services."""

from __future__ import annotations

import uuid

import pytest

from services.notifications.feed import FeedFilter, scope
from services.notifications.models import SubscriptionCreate
from shared.contracts.envelope import Event
from shared.contracts.followups import FollowUpEvidenceAdded
from shared.platform.auth import Principal, Role
from shared.platform.errors import Invalid
from tests.factories import link_event


def evidence_added(public: bool, city: str = "leipzig") -> Event:
    """A followup.evidence_added, as the evaluations service emits it (only the fields the filter reads matter)."""
    followup = {"city": city, "seminar_id": str(uuid.uuid4()), "dimension": "processes", "recommendation_title": "A plan"}
    data = {"followup": followup, "evidence_id": str(uuid.uuid4()), "title": "Internal budget memo", "public": public}
    return Event(type=FollowUpEvidenceAdded.versioned_type(), source="/test", subject="f", data=data)


def reader(role: Role, city: str | None = None) -> FeedFilter:
    return scope(Principal(token_id="t", role=role, city=city), [], None, None)


def test_a_city_reads_the_links_of_each_of_its_cities_not_only_the_first() -> None:
    link = link_event()  # MediaCityUK (Manchester) and the BioCluster (Leipzig), Manchester first
    assert reader(Role.city_official, "leipzig").admits(link)
    assert reader(Role.city_official, "manchester").admits(link)
    assert not reader(Role.city_official, "lyon").admits(link)
    assert FeedFilter(city="leipzig").admits(link)  # ?city=leipzig, for whoever may ask


def test_private_evidence_reaches_only_those_who_may_see_it() -> None:
    private, public = evidence_added(public=False), evidence_added(public=True)
    integration = reader(Role.integration)
    assert integration.admits(public) and not integration.admits(private)
    for allowed in (reader(Role.city_official, "leipzig"), reader(Role.lead_partner), reader(Role.admin)):
        assert allowed.admits(private) and allowed.admits(public)
    assert not reader(Role.city_official, "lyon").admits(private)  # another city's: not theirs at all


def test_the_feed_takes_event_names_and_types_of_what_it_carries_only() -> None:
    admin = Principal(token_id="t", role=Role.admin)
    assert scope(admin, ["recommendation.issued", "eu.clusnet.followup.opened.v1"], None, None).types
    with pytest.raises(Invalid, match="unknown event type"):  # notification.* is not fed: asking for it is an error
        scope(admin, ["eu.clusnet.notification.failed.v1"], None, None)


def test_a_subscription_takes_a_versioned_type_as_its_event_name() -> None:
    data = {"stakeholder_id": str(uuid.uuid4()), "channel": "email"}
    named = SubscriptionCreate.model_validate({**data, "event_types": ["eu.clusnet.recommendation.issued.v1", "followup.opened"]})
    assert named.event_types == ["recommendation.issued", "followup.opened"]
    with pytest.raises(ValueError, match="unknown event type"):
        SubscriptionCreate.model_validate({**data, "event_types": ["eu.clusnet.notification.failed.v1"]})


def test_a_private_link_reaches_only_those_who_may_see_private_evidence() -> None:
    private, public = link_event(public=False), link_event(public=True)
    assert reader(Role.integration).admits(public) and not reader(Role.integration).admits(private)
    assert reader(Role.lead_partner).admits(private) and reader(Role.city_official, "leipzig").admits(private)
