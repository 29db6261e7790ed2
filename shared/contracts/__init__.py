"""The public contract between services: every event payload, registered by its versioned type.

Their JSON Schemas are generated into `schemas/events/` (`make schemas`) and a test fails when a
model change would break a checked-in schema: change compatibly, or add a `.v2` model.
"""

from shared.contracts import followups, notifications, recommendations
from shared.contracts.common import Actor, Dimension
from shared.contracts.envelope import REGISTRY, register

register(*recommendations.EVENTS, *followups.EVENTS, *notifications.EVENTS)

__all__ = ["REGISTRY", "Actor", "Dimension", "followups", "notifications", "recommendations"]
