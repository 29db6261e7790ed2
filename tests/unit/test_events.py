"""The event envelope and the schema compatibility rules, without services."""

import json
import uuid
from datetime import UTC, date, datetime

import pytest

import shared.contracts  # noqa: F401 - registers the event types
from shared.contracts.common import Actor
from shared.contracts.envelope import Event, EventDecodeError
from shared.contracts.recommendations import RecommendationIssued, RecommendationState, SeminarState
from shared.platform.schemas import REGISTRY, breaking_changes, generate, path_of, schema_of


def issued_event() -> Event:
    seminar = SeminarState(
        id=uuid.uuid4(),
        host_city="leipzig",
        theme="biotech",
        cluster="leipzig-biocluster",
        held_on=date(2009, 11, 26),
        status="report_published",
    )
    rec = RecommendationState(
        id=uuid.uuid4(),
        version=1,
        status="issued",
        seminar=seminar,
        target_city="leipzig",
        dimension="setting",
        title="Involve private industry",
        text="…",
        priority="high",
        updated_at=datetime.now(UTC),
    )
    return Event.of(
        RecommendationIssued(recommendation=rec, actor=Actor(id="t1", role="lead_partner")),
        source="/clusnet/recommendations/test",
        subject=str(rec.id),
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )


def test_round_trip_through_kafka_form() -> None:
    event = issued_event()
    key, value, headers = event.to_kafka()
    assert key == event.subject.encode()
    names = {k for k, _ in headers}
    assert {"ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time", "ce_subject", "traceparent"} <= names
    back = Event.from_kafka(headers, value)
    assert back == event
    assert back.type == "eu.clusnet.recommendation.issued.v1" and back.name == "recommendation.issued"
    assert isinstance(back.payload(), RecommendationIssued)


def test_unknown_version_is_read_as_an_envelope_and_refused_only_when_decoded() -> None:
    _, value, headers = issued_event().to_kafka()
    headers = [(k, b"eu.clusnet.recommendation.issued.v9" if k == "ce_type" else v) for k, v in headers]
    assert Event.type_of(headers) == "eu.clusnet.recommendation.issued.v9"  # enough for a consumer to skip it
    event = Event.from_kafka(headers, value)
    with pytest.raises(EventDecodeError, match=r"unknown event type or version 'eu.clusnet.recommendation.issued.v9'"):
        event.payload()
    with pytest.raises(EventDecodeError, match=r"is not eu.clusnet.recommendation.issued.v1"):
        event.decode(RecommendationIssued)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h, v: ([x for x in h if x[0] != "ce_id"], v), "missing CloudEvents headers: ce_id"),
        (lambda h, v: ([(k, b"0.3" if k == "ce_specversion" else x) for k, x in h], v), "not a CloudEvents 1.0"),
        (lambda h, v: (h, b"{oops"), "body is not JSON"),
        (lambda h, v: (h, b"[1, 2]"), "must be a JSON object"),
        (lambda h, v: (h, json.dumps({"recommendation": {}}).encode()), "does not match its schema"),
    ],
)
def test_malformed_messages_are_refused(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    _, value, headers = issued_event().to_kafka()
    headers, value = mutate(headers, value)
    with pytest.raises(EventDecodeError, match=message):
        Event.from_kafka(headers, value).decode(RecommendationIssued)


@pytest.mark.parametrize("event_type", sorted(REGISTRY))
def test_checked_in_schemas_are_current_and_compatible(event_type: str) -> None:
    checked_in = json.loads(path_of(event_type).read_text())
    current = generate(event_type)
    assert breaking_changes(checked_in, current) == [], "breaking change: add a new event version instead"
    assert checked_in == json.loads(json.dumps(current, sort_keys=True)), "schema changed: run `make schemas` and commit"


def test_breaking_changes_are_detected() -> None:
    old = generate("eu.clusnet.recommendation.issued.v1")
    new = json.loads(json.dumps(old))
    del new["$defs"]["RecommendationState"]["properties"]["title"]
    new["$defs"]["RecommendationState"]["properties"]["version"]["type"] = "string"
    new["required"].append("extra")
    problems = breaking_changes(old, new)
    assert "RecommendationState.title: removed" in problems
    assert any("version: type" in p for p in problems)
    assert "extra: newly required" in problems


def test_events_validate_against_their_checked_in_schema() -> None:
    event = issued_event()
    schema_of(event.type).validate(event.data)
