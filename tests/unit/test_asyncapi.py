"""Each service's AsyncAPI 3.0 document: valid against AsyncAPI's own published JSON Schema
(vendored from the npm package @asyncapi/specs, see tests/vendor/README.md), current with the
checked-in copy in schemas/asyncapi/, and derived from the same registry as the consumers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from services.cli import ASYNCAPI_DIR, asyncapi_documents
from services.evaluations.handlers import router as evaluations_router
from services.notifications.rules import NOTIFIABLE

SPEC = json.loads((Path(__file__).resolve().parents[1] / "vendor" / "asyncapi-3.0.0.schema.json").read_text())
DOCUMENTS = asyncapi_documents()


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_document_is_valid_asyncapi_3(service: str) -> None:
    errors = sorted(Draft7Validator(SPEC).iter_errors(DOCUMENTS[service]), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_checked_in_document_is_current(service: str) -> None:
    checked_in = json.loads((ASYNCAPI_DIR / f"{service}.json").read_text())
    assert checked_in == DOCUMENTS[service], "AsyncAPI document changed: run `make schemas` and commit"


def _messages(document: dict[str, Any], action: str) -> set[str]:
    return {
        ref["$ref"].rsplit("/", 1)[1]
        for op in document["operations"].values()
        if op["action"] == action
        for ref in op["messages"]
    }


def test_documents_follow_the_routers() -> None:
    assert _messages(DOCUMENTS["evaluations"], "receive") == {p.versioned_type() for p in evaluations_router.payloads}
    assert _messages(DOCUMENTS["notifications"], "receive") == {p.versioned_type() for p in NOTIFIABLE}
    assert _messages(DOCUMENTS["recommendations"], "receive") == set()
    sent = {service: _messages(DOCUMENTS[service], "send") for service in DOCUMENTS}
    assert all(
        t.startswith(("eu.clusnet.recommendation.", "eu.clusnet.seminar.", "eu.clusnet.cluster_link."))
        for t in sent["recommendations"]
    )
    assert all(t.startswith("eu.clusnet.followup.") for t in sent["evaluations"])
    channel = DOCUMENTS["recommendations"]["channels"]["recommendations"]
    assert channel["address"] == "clusnet.recommendations"
