"""Pure rules of the notifications service: which event concerns which subscription, when to retry,
how webhooks are signed (Standard Webhooks). No framework, no I/O: unit-tested on their own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from shared.contracts import topics
from shared.contracts.common import PRIVATE_EVIDENCE_READERS
from shared.contracts.envelope import REGISTRY, Event, Payload
from shared.contracts.followups import FollowUpEvidenceAdded

# Every domain event is notifiable (not this service's own notification.* events): the consumer's
# routes and the event types a subscription may name both come from here, so they cannot disagree.
NOTIFIABLE: tuple[type[Payload], ...] = tuple(p for p in REGISTRY.values() if p.stream != topics.NOTIFICATIONS)
EVENT_NAMES: list[str] = sorted({p.event_name for p in NOTIFIABLE})
NAME_OF_TYPE: dict[str, str] = {p.versioned_type(): p.event_name for p in NOTIFIABLE}  # the types the feed carries
EVIDENCE_ADDED = FollowUpEvidenceAdded.event_name


@dataclass(frozen=True)
class EventSummary:
    """What subscriptions filter on, read from any domain event's full-state payload."""

    name: str
    city: str | None
    seminar_id: str | None
    dimension: str | None
    title: str | None
    cities: tuple[str, ...] = ()  # every city the event concerns (an inter-cluster link: each cluster's)
    clusters: tuple[str, ...] = ()
    private: bool = False  # it tells of private evidence: evidence added as private, or a private link

    @property
    def is_deadline(self) -> bool:
        return self.name in ("followup.overdue", "followup.due_soon")


def summarize(event: Event) -> EventSummary:
    summary = _summary(event)
    return replace(summary, private=True) if is_private(event) else summary


def is_private(event: Event) -> bool:
    """Whether the event tells of private evidence: evidence added as private, or a private
    inter-cluster link (a link answering recommendations is their evidence)."""
    data = event.data
    if event.name == EVIDENCE_ADDED:
        return data.get("public") is False
    link = data.get("link")
    return isinstance(link, dict) and link.get("public") is False


def may_receive(summary: EventSummary, reader_role: str | None, reader_city: str | None) -> bool:
    """What a person's own subscription (My notifications) may carry is what that person may read:
    private evidence only for the roles that see it (`PRIVATE_EVIDENCE_READERS`), and a city
    official only their own city's follow-ups and private links. `reader_role` None: a subscription
    the admin set up (a webhook, an outside stakeholder's email), which carries what the admin chose."""
    if reader_role is None:
        return True
    if reader_role == "city_official" and reader_city not in summary.cities:  # another city's
        return not (summary.private or summary.name.startswith("followup."))
    return reader_role in PRIVATE_EVIDENCE_READERS or not summary.private


def _summary(event: Event) -> EventSummary:
    data: dict[str, Any] = event.data
    if rec := data.get("recommendation"):
        city, cluster = rec["target_city"], rec["seminar"]["cluster"]
        return EventSummary(
            event.name, city, rec["seminar"]["id"], rec["dimension"], rec["title"], cities=(city,), clusters=(cluster,)
        )
    if followup := data.get("followup"):
        city = followup["city"]
        return EventSummary(
            event.name, city, followup["seminar_id"], followup["dimension"], followup["recommendation_title"], cities=(city,)
        )
    if seminar := data.get("seminar"):
        city = seminar["host_city"]
        return EventSummary(
            event.name, city, seminar["id"], None, seminar["theme"], cities=(city,), clusters=(seminar["cluster"],)
        )
    if link := data.get("link"):
        cities = tuple(link["cities"])
        clusters = tuple(c["slug"] for c in link["clusters"])
        return EventSummary(
            event.name, cities[0] if cities else None, None, None, link["description"], cities=cities, clusters=clusters
        )
    return EventSummary(event.name, None, None, None, None)


def page_path(event: Event) -> str:
    """The portal page an email about `event` links to: the follow-up's page, else the public page."""
    followup = event.data.get("followup") if isinstance(event.data, dict) else None
    if followup and followup.get("id"):
        return f"/follow-ups/{followup['id']}"
    return "/"


def matches(
    summary: EventSummary,
    *,
    event_types: list[str],
    cities: list[str],
    seminars: list[str],
    dimensions: list[str],
    overdue_only: bool,
    clusters: Sequence[str] = (),
    reader_role: str | None = None,
    reader_city: str | None = None,
) -> bool:
    """Empty filters match everything; each given filter must match. A cluster filter matches the
    events that name a cluster (links, seminars and their recommendations), not follow-ups. And
    the subscriber may receive it (`may_receive`)."""
    if not may_receive(summary, reader_role, reader_city):
        return False
    if event_types and summary.name not in event_types:
        return False
    if cities and not set(cities) & set(summary.cities):  # a link concerns each of its cities
        return False
    if clusters and not set(clusters) & set(summary.clusters):
        return False
    if seminars and summary.seminar_id not in seminars:
        return False
    if dimensions and summary.dimension not in dimensions:
        return False
    return not overdue_only or summary.name == "followup.overdue"


def retry_delay(attempt: int, base_s: float, cap_s: float, retry_after_s: float | None = None, jitter: float = 0.2) -> float:
    """Exponential backoff (x4 per attempt) with ±20% jitter, honouring a longer Retry-After, capped."""
    delay = min(cap_s, base_s * 4 ** max(attempt - 1, 0)) * random.uniform(1 - jitter, 1 + jitter)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return min(delay, cap_s)


def intake_ahead(sent_per_s: float, late_s: float, least: int, most: int) -> int:
    """How many first attempts may wait: what the dispatcher sends in `late_s` at its recent rate,
    at least one batch (a burst after a quiet hour must start somewhere), at most `most`. A fixed
    number would be a different wait on every machine and under every load."""
    return max(least, min(most, int(sent_per_s * late_s)))


def intake_room(waiting: int, oldest_wait_s: float, ahead: int, late_s: float) -> int:
    """How many more events the consumer may turn into deliveries: up to `ahead` first attempts
    waiting, and none while the oldest has waited over `late_s` (the dispatcher is behind: a
    queue of webhooks that are already late only grows their lateness)."""
    return 0 if oldest_wait_s > late_s else max(0, ahead - waiting)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After is seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max((parsedate_to_datetime(value) - now).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_signature(secret: str, headers: dict[str, str], body: bytes, tolerance_s: int = 300) -> bool:
    """What a receiver does (also shown in docs/webhooks.md)."""
    timestamp = int(headers["webhook-timestamp"])
    if abs(datetime.now(UTC).timestamp() - timestamp) > tolerance_s:
        return False
    expected = sign(secret, headers["webhook-id"], timestamp, body).split(",", 1)[1]
    return any(
        hmac.compare_digest(expected, s.split(",", 1)[1]) for s in headers["webhook-signature"].split() if s.startswith("v1,")
    )
