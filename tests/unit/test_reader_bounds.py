"""What a person's own email subscription may carry: what that person may read (rules.may_receive).
Pure rules, no services."""

from __future__ import annotations

import uuid

from services.notifications import rules
from shared.contracts.envelope import Event
from tests.factories import issued, link_event
from tests.unit.test_feed_filter import evidence_added

NO_FILTERS: dict[str, object] = {"event_types": [], "cities": [], "seminars": [], "dimensions": [], "overdue_only": False}


def status_changed(city: str) -> Event:
    followup = {"city": city, "seminar_id": str(uuid.uuid4()), "dimension": "processes", "recommendation_title": "A plan"}
    return Event(type="eu.clusnet.followup.status_changed.v1", source="/test", subject="f", data={"followup": followup})


def receives(event: Event, role: str | None, city: str | None = None) -> bool:
    return rules.matches(rules.summarize(event), **NO_FILTERS, reader_role=role, reader_city=city)  # type: ignore[arg-type]


def test_an_integration_person_receives_no_private_evidence() -> None:
    assert receives(link_event(public=True), "integration") and not receives(link_event(public=False), "integration")
    assert receives(evidence_added(public=True), "integration") and not receives(evidence_added(public=False), "integration")


def test_a_city_official_receives_their_own_city_s_follow_ups_and_private_links_only() -> None:
    assert receives(status_changed("leipzig"), "city_official", "leipzig")
    assert not receives(status_changed("lyon"), "city_official", "leipzig")  # another city's follow-up
    assert receives(evidence_added(public=False, city="leipzig"), "city_official", "leipzig")
    assert not receives(evidence_added(public=False, city="lyon"), "city_official", "leipzig")
    private_link = link_event(public=False)  # Manchester and Leipzig
    assert receives(private_link, "city_official", "leipzig") and not receives(private_link, "city_official", "lyon")
    assert receives(link_event(public=True), "city_official", "lyon")  # public: everyone's
    assert receives(issued(city="lyon"), "city_official", "leipzig")  # a recommendation is public


def test_the_lead_partner_admins_and_the_admin_s_subscriptions_receive_everything() -> None:
    for event in (status_changed("lyon"), evidence_added(public=False), link_event(public=False)):
        assert receives(event, "lead_partner") and receives(event, "admin") and receives(event, None)
