"""Link events in the notifications service's pure parts: what a subscription matches, and the email."""

import pytest

from services.notifications import mailer, rules
from shared.contracts.recommendations import CLUSTER_LINK_EVENTS, ClusterLinkEnded
from tests.factories import issued, link_event


def _matches(summary: rules.EventSummary, **filters: list[str]) -> bool:
    values: dict = {"event_types": [], "cities": [], "seminars": [], "dimensions": [], "overdue_only": False, **filters}
    return rules.matches(summary, **values)


def test_link_events_are_notifiable_by_name() -> None:
    assert {p.event_name for p in CLUSTER_LINK_EVENTS} <= set(rules.EVENT_NAMES)


def test_a_city_filter_matches_a_link_involving_any_of_its_cities() -> None:
    summary = rules.summarize(link_event())
    assert summary.cities == ("manchester", "leipzig") and summary.clusters == ("mediacityuk", "leipzig-biocluster")
    assert summary.title == "Investor days shared by the two clusters"
    assert _matches(summary, cities=["leipzig"]) and _matches(summary, cities=["munich", "manchester"])
    assert not _matches(summary, cities=["lyon"])
    assert _matches(summary, event_types=["cluster_link.proposed"]) and not _matches(summary, event_types=["cluster_link.ended"])
    assert not _matches(summary, dimensions=["setting"]), "a link has no dimension: a dimension filter leaves it out"


def test_a_cluster_filter_matches_links_and_seminar_events_of_that_cluster() -> None:
    link = rules.summarize(link_event())
    assert _matches(link, clusters=["leipzig-biocluster"]) and not _matches(link, clusters=["lyon-cleantech"])
    recommendation = rules.summarize(issued(city="leipzig"))  # its seminar was about the BioCluster
    assert recommendation.clusters == ("leipzig-biocluster",) and _matches(recommendation, clusters=["leipzig-biocluster"])
    assert _matches(link, clusters=["mediacityuk"], cities=["leipzig"]), "each filter on its own terms"


def test_other_events_still_match_their_one_city() -> None:
    summary = rules.summarize(issued(city="leipzig"))
    assert summary.cities == ("leipzig",) and _matches(summary, cities=["leipzig"]) and not _matches(summary, cities=["lyon"])


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("payload", CLUSTER_LINK_EVENTS)
def test_every_link_event_has_its_email_in_both_languages(language: str, payload: type) -> None:
    event = link_event(payload, status="ended", recommendation_ids=[issued().data["recommendation"]["id"]])
    rendered = mailer.render(language, event.name, {"s": rules.summarize(event), "d": event.data, "name": "Ada"})
    assert "MediaCityUK – BioCluster Leipzig" in rendered.subject
    assert "Investor days shared by the two clusters" in rendered.text and "Investor days" in rendered.html
    assert ("Hello Ada" if language == "en" else "Bonjour Ada") in rendered.text


def test_a_staff_exchange_email_says_what_was_learned() -> None:
    staff = {"person": "Cluster manager", "home_city": "leipzig", "learned": "How to court <investors>"}
    event = link_event(ClusterLinkEnded, kind="staff_exchange", status="ended", staff_exchange=staff)
    rendered = mailer.render("fr", event.name, {"s": rules.summarize(event), "d": event.data, "name": "Ada"})
    assert "Lien inter-clusters terminé" in rendered.subject and "échange de personnel" in rendered.text
    assert "How to court <investors>" in rendered.text and "How to court &lt;investors&gt;" in rendered.html
