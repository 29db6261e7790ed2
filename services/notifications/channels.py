"""Sending one delivery: a signed webhook (Standard Webhooks) or an email. Answers an Outcome."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from services.notifications import mailer, rules, targets
from services.notifications.config import Settings
from services.notifications.models import Delivery, Stakeholder, Subscription
from shared.contracts.envelope import Event


@dataclass(frozen=True)
class Outcome:
    ok: bool
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None
    gone: bool = False  # 410: the endpoint asks never to be called again


STRUCTURED_MODE = "application/cloudevents+json"


def structured_cloudevent(event: dict[str, Any]) -> bytes:
    """The webhook body: the event in CloudEvents structured JSON mode."""
    body = {
        "specversion": "1.0",
        "datacontenttype": "application/json",
        **{k: event[k] for k in ("id", "type", "source", "subject", "time", "data")},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def webhook_id(delivery: Delivery) -> str:
    """Stable across retries, so receivers can drop a repeat: `msg_` and the delivery id's 32 hex
    digits (the id `GET /deliveries` lists, without its dashes)."""
    return f"msg_{delivery.id.hex}"


async def send_webhook(http: httpx.AsyncClient, settings: Settings, sub: Subscription, delivery: Delivery) -> Outcome:
    assert sub.url and sub.secret
    body = structured_cloudevent(delivery.event)
    timestamp = int(time.time())
    headers = {
        "content-type": STRUCTURED_MODE,  # the CloudEvents HTTP binding's structured mode, as `clusnet replay` sends
        "webhook-id": webhook_id(delivery),
        "webhook-timestamp": str(timestamp),
        "webhook-signature": rules.sign(sub.secret, webhook_id(delivery), timestamp, body),
        "traceparent": delivery.event.get("traceparent", ""),
    }
    started = time.perf_counter()
    try:  # again at each delivery: the name may resolve elsewhere than when it was accepted
        await targets.check(sub.url, settings.webhook_allow_loopback)
    except targets.UnsafeTarget as exc:
        return Outcome(ok=False, duration_ms=_ms(started), error=f"refused: {exc}"[:500])
    try:
        answer = await http.post(sub.url, content=body, headers=headers, timeout=settings.webhook_timeout_s)
    except httpx.HTTPError as exc:
        return Outcome(ok=False, duration_ms=_ms(started), error=f"{type(exc).__name__}: {exc}"[:500])
    ms = _ms(started)
    if answer.is_success:
        return Outcome(ok=True, duration_ms=ms, status_code=answer.status_code)
    return Outcome(
        ok=False,
        duration_ms=ms,
        status_code=answer.status_code,
        error=f"HTTP {answer.status_code}: {answer.text[:200]}",
        retry_after_s=rules.parse_retry_after(answer.headers.get("retry-after"), datetime.now(UTC)),
        gone=answer.status_code == 410,
    )


def unsubscribe_url(settings: Settings, sub: Subscription) -> str:
    return f"{settings.portal_url.rstrip('/')}/unsubscribe/{sub.unsubscribe_token}"


async def send_email(settings: Settings, stakeholder: Stakeholder, delivery: Delivery, sub: Subscription) -> Outcome:
    event = Event.model_validate(delivery.event)
    values = {"s": rules.summarize(event), "d": event.data, "name": stakeholder.name}
    link = settings.portal_url.rstrip("/") + rules.page_path(event)
    unsubscribe = unsubscribe_url(settings, sub)
    rendered = mailer.render(stakeholder.language, event.name, values, link=link, unsubscribe_url=unsubscribe)
    return await deliver_email(settings, stakeholder, rendered, webhook_id(delivery), unsubscribe)


async def deliver_email(
    settings: Settings, stakeholder: Stakeholder, rendered: mailer.Rendered, message_id: str, unsubscribe: str | None = None
) -> Outcome:
    started = time.perf_counter()
    try:
        await mailer.send(settings, mailer.message(settings, stakeholder.email, rendered, message_id, unsubscribe))
    except Exception as exc:  # aiosmtplib raises many kinds; every one is a failed attempt to retry
        return Outcome(ok=False, duration_ms=_ms(started), error=f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(ok=True, duration_ms=_ms(started))


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
