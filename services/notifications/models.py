"""Tables and API shapes of the notifications service."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from pydantic import AnyHttpUrl, EmailStr, StringConstraints, field_validator, model_validator
from sqlalchemy import JSON, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.notifications import rules
from shared.contracts.common import LANGUAGE_PATTERN, Dimension, Slug
from shared.platform.inbox import InboxFields
from shared.platform.outbox import OutboxFields

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(SQLModel, registry=registry()):
    """This service's own metadata."""


class Outbox(OutboxFields, Base, table=True):
    __tablename__ = "outbox"


class Inbox(InboxFields, Base, table=True):
    __tablename__ = "inbox"


class Channel(StrEnum):
    email = "email"
    webhook = "webhook"


class Mode(StrEnum):
    immediate = "immediate"
    digest = "digest"


class DeliveryStatus(StrEnum):
    pending = "pending"  # to send (again) at next_attempt_at
    digest_pending = "digest_pending"  # waits for the stakeholder's daily digest
    delivered = "delivered"
    dead = "dead"  # gave up; POST /deliveries/{id}/retry revives it


# Stakeholders -------------------------------------------------------------------------------
class StakeholderBase(SQLModel):
    name: Name
    email: EmailStr = Field(max_length=254)
    organisation: Name | None = None
    city: Slug | None = None
    role: Name | None = None
    language: str = Field(default="en", regex=LANGUAGE_PATTERN)
    timezone: str = Field(default="Europe/Paris", max_length=64)
    digest_hour: int = Field(default=8, ge=0, le=23, description="Local hour of the daily digest")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)")
        return value


class StakeholderCreate(StakeholderBase):
    pass


class Stakeholder(StakeholderBase, Base, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class StakeholderPublic(StakeholderBase):
    id: uuid.UUID
    created_at: datetime


# Subscriptions ------------------------------------------------------------------------------
class SubscriptionFilters(SQLModel):
    event_types: list[str] = Field(default_factory=list, max_length=50, sa_type=JSON)
    cities: list[Slug] = Field(default_factory=list, max_length=20, sa_type=JSON)
    clusters: list[Slug] = Field(
        default_factory=list, max_length=20, sa_type=JSON, description="Events concerning these clusters (links, seminars)"
    )
    seminars: list[uuid.UUID] = Field(default_factory=list, max_length=50, sa_type=JSON)
    dimensions: list[Dimension] = Field(default_factory=list, max_length=3, sa_type=JSON)
    overdue_only: bool = False


class SubscriptionCreate(SubscriptionFilters):
    stakeholder_id: uuid.UUID
    channel: Channel
    url: AnyHttpUrl | None = Field(default=None, description="Where webhooks go (http or https)")
    mode: Mode = Mode.immediate

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        """Event names (`recommendation.issued`); a versioned type (`eu.clusnet.recommendation.issued.v1`,
        as the events and the feed spell it) is taken as its name: a subscription follows the event
        across versions."""
        value = [rules.NAME_OF_TYPE.get(t, t) for t in value]
        unknown = [t for t in value if t not in rules.EVENT_NAMES]
        if unknown:
            raise ValueError(f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(rules.EVENT_NAMES)}")
        return value

    @model_validator(mode="after")
    def _channel_needs(self) -> SubscriptionCreate:
        if self.channel == Channel.webhook and self.url is None:
            raise ValueError("a webhook subscription needs a `url`")
        if self.channel == Channel.email and self.url is not None:
            raise ValueError("an email subscription has no `url` (mail goes to the stakeholder's address)")
        if self.channel == Channel.webhook and self.mode == Mode.digest:
            raise ValueError("digests are emails: a webhook subscription is immediate")
        return self


def new_unsubscribe_token() -> str:
    return secrets.token_urlsafe(24)


class Subscription(SubscriptionFilters, Base, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # The capability in each email's one-click unsubscribe link (RFC 8058): it turns off this
    # subscription and nothing else, without signing in.
    unsubscribe_token: str = Field(default_factory=new_unsubscribe_token, max_length=64, unique=True, index=True)
    stakeholder_id: uuid.UUID = Field(foreign_key="stakeholder.id", index=True)
    channel: Channel
    url: str | None = None
    secret: str | None = None
    mode: Mode = Mode.immediate
    active: bool = True
    disabled_reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # A person's own subscription (My notifications): their role and city then. What it carries is
    # bounded by what they may read (`rules.may_receive`); None: set up by the admin, who decides.
    reader_role: str | None = Field(default=None, max_length=32)
    reader_city: str | None = Field(default=None, max_length=64)


class SubscriptionPublic(SubscriptionFilters):
    id: uuid.UUID
    stakeholder_id: uuid.UUID
    channel: Channel
    url: str | None
    mode: Mode
    active: bool
    disabled_reason: str | None
    created_at: datetime


class MySubscriptionCreate(SubscriptionFilters):
    """A person's own email subscription (My notifications): filters, mode and language."""

    mode: Mode = Mode.immediate
    language: str | None = Field(default=None, regex=LANGUAGE_PATTERN, description="The person's email language")
    name: Name | None = Field(default=None, description="The person's name, when their stakeholder is created")

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        return SubscriptionCreate._known_types(value)


class MySubscriptions(SQLModel):
    language: str
    items: list[SubscriptionPublic]


class Unsubscribed(SQLModel):
    subscription_id: uuid.UUID
    active: bool


class SubscriptionCreated(SubscriptionPublic):
    secret: str | None = Field(description="The webhook signing secret (whsec_…), shown only in this answer")


# Deliveries ---------------------------------------------------------------------------------
class Delivery(Base, table=True):
    """One per (subscription, event): the unique key makes a redelivered event harmless."""

    __table_args__ = (UniqueConstraint("subscription_id", "event_id", name="uq_delivery_subscription_event"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    subscription_id: uuid.UUID = Field(foreign_key="subscription.id", index=True)
    stakeholder_id: uuid.UUID = Field(foreign_key="stakeholder.id", index=True)
    channel: Channel
    event_id: uuid.UUID = Field(index=True)
    event_type: str
    event: dict[str, Any] = Field(sa_type=JSON)
    status: DeliveryStatus = Field(default=DeliveryStatus.pending, index=True)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default_factory=utcnow, index=True)
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class DeliveryAttempt(Base, table=True):
    __tablename__ = "delivery_attempt"
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: uuid.UUID = Field(foreign_key="delivery.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    ok: bool
    status_code: int | None = None
    error: str | None = None
    duration_ms: int


class AttemptPublic(SQLModel):
    at: datetime
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryPublic(SQLModel):
    id: uuid.UUID
    subscription_id: uuid.UUID
    stakeholder_id: uuid.UUID
    channel: Channel
    event_id: uuid.UUID
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptPublic] = []


class DigestSent(Base, table=True):
    """One digest per stakeholder per local day: the key makes it once, even with two instances."""

    __tablename__ = "digest_sent"
    stakeholder_id: uuid.UUID = Field(foreign_key="stakeholder.id", primary_key=True)
    day: date = Field(primary_key=True)
    items: int
    sent_at: datetime = Field(default_factory=utcnow)
