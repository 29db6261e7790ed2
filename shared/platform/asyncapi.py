"""AsyncAPI 3.0 documents, generated from the contract registry and a service's event router.

Channels are the Kafka topics; each message is one versioned event type with its JSON Schema
(pydantic's, the same as `schemas/events/`), the CloudEvents binary-mode headers and the Kafka key
(the aggregate id). A service *sends* the events of its own stream and *receives* what its router
handles. Checked into `schemas/asyncapi/` by `clusnet schemas`, validated by a test against
AsyncAPI's published JSON Schema, and served by every service at `GET /asyncapi.json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.contracts import topics
from shared.contracts.envelope import REGISTRY, Payload

REF = "#/components/schemas/{model}"
CLOUDEVENTS_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes in Kafka binary mode, and W3C trace context.",
    "required": ["ce_specversion", "ce_id", "ce_type", "ce_source", "ce_subject", "ce_time"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "format": "uuid", "description": "Unique per event: deduplicate by it."},
        "ce_type": {"type": "string", "description": "Versioned type, e.g. eu.clusnet.recommendation.issued.v1"},
        "ce_source": {"type": "string", "description": "/clusnet/<service>/<instance>"},
        "ce_subject": {"type": "string", "description": "The aggregate id (also the Kafka key)."},
        "ce_time": {"type": "string", "format": "date-time"},
        "content-type": {"type": "string", "const": "application/json"},
        "traceparent": {"type": "string", "description": "W3C trace context of the change that caused the event."},
    },
}


def payloads_of(stream: str) -> list[type[Payload]]:
    return sorted((p for p in REGISTRY.values() if p.stream == stream), key=lambda p: p.versioned_type())


def document(
    *, service: str, description: str, sends: Sequence[type[Payload]], receives: Sequence[type[Payload]], prefix: str = "clusnet"
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of one service."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    for payload in sorted({*sends, *receives}, key=lambda p: p.versioned_type()):
        event_type = payload.versioned_type()
        schema = payload.model_json_schema(mode="serialization", ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[event_type] = schema
        messages[event_type] = _message(payload)
        channel = channels.setdefault(
            payload.stream,
            {
                "address": topics.name(prefix, payload.stream),
                "description": f"Events published by the {payload.stream} service, keyed by aggregate id.",
                "messages": {},
            },
        )
        channel["messages"][event_type] = {"$ref": f"#/components/messages/{event_type}"}
    operations = {}
    for action, group in (("send", sends), ("receive", receives)):
        for stream in sorted({p.stream for p in group}):
            operations[f"{action}-{stream}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{stream}"},
                "messages": [
                    {"$ref": f"#/channels/{stream}/messages/{p.versioned_type()}"}
                    for p in sorted(group, key=lambda p: p.versioned_type())
                    if p.stream == stream
                ],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": f"CLUSNET {service}", "version": "1.0.0", "description": description},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _message(payload: type[Payload]) -> dict[str, Any]:
    return {
        "name": payload.event_name,
        "title": payload.versioned_type(),
        "summary": (payload.__doc__ or payload.event_name).strip().splitlines()[0],
        "contentType": "application/json",
        "headers": CLOUDEVENTS_HEADERS,
        "payload": {"$ref": REF.format(model=payload.versioned_type())},
        "bindings": {"kafka": {"key": {"type": "string", "format": "uuid"}, "bindingVersion": "0.5.0"}},
    }
