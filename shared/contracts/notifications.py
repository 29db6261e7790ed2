"""Events of the notifications service (topic clusnet.notifications)."""

from uuid import UUID

from shared.contracts import topics
from shared.contracts.envelope import Payload


class _DeliveryEvent(Payload):
    stream = topics.NOTIFICATIONS
    delivery_id: UUID
    subscription_id: UUID
    stakeholder_id: UUID
    channel: str
    event_id: UUID
    event_type: str
    attempts: int


class NotificationDelivered(_DeliveryEvent):
    event_name = "notification.delivered"


class NotificationFailed(_DeliveryEvent):
    event_name = "notification.failed"
    error: str


EVENTS = (NotificationDelivered, NotificationFailed)
