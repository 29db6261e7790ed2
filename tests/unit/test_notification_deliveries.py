"""What a delivery stores, built without the ORM by the consumer's fast path."""

import uuid
from datetime import UTC, datetime

from services.notifications import handlers
from services.notifications.models import DeliveryStatus, Mode, Subscription
from shared.contracts.envelope import Event
from shared.platform.db import to_json
from tests.factories import issued, link_event


def test_the_stored_copy_is_the_text_the_one_event_path_stores() -> None:
    traced = issued(city="leipzig", title='Ünïcode — and "quotes"').model_copy(
        update={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    )
    for event in (issued(), traced, link_event()):
        _, value, headers = event.to_kafka()
        decoded = Event.from_kafka(headers, value)  # as the consumer has it
        # the one-event path hands `model_dump(mode="json")` to the engine, whose serializer is this
        assert handlers.stored_copy(decoded) == to_json(decoded.model_dump(mode="json"))


def test_a_digest_subscription_s_deliveries_wait_for_the_digest() -> None:
    now = datetime.now(UTC)
    sub = Subscription(stakeholder_id=uuid.uuid4(), channel="email")
    assert handlers.first_state(sub, now) == (DeliveryStatus.pending, now)
    sub.mode = Mode.digest
    assert handlers.first_state(sub, now) == (DeliveryStatus.digest_pending, None)
