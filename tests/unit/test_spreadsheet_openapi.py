"""Both import endpoints are documented in OpenAPI: a multipart body with `file`, and their answers."""

from __future__ import annotations

from typing import Any

import pytest

from services.evaluations.config import Settings as EvaluationsSettings
from services.evaluations.main import create_app as evaluations_app
from services.recommendations.config import Settings as RecommendationsSettings
from services.recommendations.main import create_app as recommendations_app


def operation(doc: dict[str, Any], path: str) -> dict[str, Any]:
    op: dict[str, Any] = doc["paths"][path]["post"]
    return op


def schema(doc: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = doc["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    return found


@pytest.mark.parametrize(
    ("doc", "path", "answers"),
    [
        (
            lambda: recommendations_app(RecommendationsSettings()).openapi(),
            "/seminars/{seminar_id}/recommendations/import",
            {"200", "202", "413", "422"},
        ),
        (lambda: evaluations_app(EvaluationsSettings()).openapi(), "/follow-ups/import", {"200", "413", "422"}),
    ],
)
def test_import_endpoints_are_documented(doc: Any, path: str, answers: set[str]) -> None:
    openapi = doc()
    op = operation(openapi, path)
    body = op["requestBody"]["content"]["multipart/form-data"]["schema"]
    form = schema(openapi, body)
    file = form["properties"]["file"]
    assert "file" in form["required"] and file["type"] == "string" and "contentMediaType" in file  # OpenAPI 3.1 binary
    assert any(p["name"] == "dry_run" and p["in"] == "query" for p in op["parameters"])
    assert answers <= set(op["responses"])
    assert "application/problem+json" in op["responses"]["422"]["content"]
