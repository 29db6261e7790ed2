"""The three services' HTTP APIs, called as a person (or as the portal's public reader).

The portal keeps no rule of its own: whatever a service refuses is shown to the person as the
service said it (its problem+json `detail`, or the portal's translation of its `code`), with the
service's status code.
"""

from __future__ import annotations

from typing import Any

import httpx

from services.portal.config import Settings


class ServiceRefused(Exception):
    """A service answered an error: its status and readable detail."""

    def __init__(self, status: int, detail: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.body = body or {}  # the problem+json itself (an import's 422 lists its `errors`)

    @property
    def problem(self) -> dict[str, Any]:
        """The problem+json with its `detail` always there: a refusal's `code` and `params` (the
        evaluations workflow's) let the page word it in the person's language (`explain`)."""
        return {**self.body, "detail": self.detail}


class Services:
    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self.http = http
        self.urls = {
            "recommendations": settings.recommendations_url.rstrip("/"),
            "evaluations": settings.evaluations_url.rstrip("/"),
            "notifications": settings.notifications_url.rstrip("/"),
        }

    async def call(
        self, bearer: str | None, service: str, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """`bearer` None only for the services' few routes that take no token (one-click unsubscribe)."""
        auth = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        answer = await self.http.request(method, self.urls[service] + path, headers={**auth, **(headers or {})}, **kwargs)
        if answer.status_code >= 400:
            raise ServiceRefused(answer.status_code, _detail(answer), _body(answer))
        return answer

    async def get(self, bearer: str, service: str, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        return (await self.call(bearer, service, "GET", path, params=clean)).json()

    async def all_items(self, bearer: str, service: str, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every page of a list endpoint, to its end. Never cut short: it stopped at 5,000 once, and
        at a programme's scale the lead partner's exports lost a sixth of their texts and My city
        said "5,000 follow-ups" of 5,951, with nothing to tell. Lists that grow with the programme
        are read a seminar at a time (the public page) or narrowed by the pages' filters."""
        items: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = await self.get(bearer, service, path, limit=200, offset=offset, **params)
            items.extend(page["items"])
            offset = page["next_offset"]
        return items


def _detail(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:300] or answer.reason_phrase
    return str(body.get("detail") or body.get("title") or answer.reason_phrase) if isinstance(body, dict) else str(body)[:300]


def _body(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
