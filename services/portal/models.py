"""The portal's own tables: people's sessions and failed sign-ins. It owns no business data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, LargeBinary
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(SQLModel, registry=registry()):
    """This service's own metadata."""


class PortalSession(Base, table=True):
    """A signed-in browser. The cookie holds `<id>.<key>`: the row keeps only the key's SHA-256,
    and the person's API token sealed (Fernet) with that key, so the table alone opens nothing."""

    __tablename__ = "portal_session"
    id: str = Field(primary_key=True, max_length=32)
    key_hash: str = Field(max_length=64)
    person_id: uuid.UUID = Field(index=True)
    email: str = Field(max_length=254)
    name: str = Field(max_length=200)
    role: str = Field(max_length=32)
    city: str | None = Field(default=None, max_length=64)
    language: str = Field(max_length=5)
    api_token_id: str = Field(max_length=16)
    api_token_sealed: str = Field(max_length=500)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class SignInFailure(Base, table=True):
    """One failed sign-in: counted per email and per client address to throttle guessing."""

    __tablename__ = "sign_in_failure"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, index=True)
    address: str = Field(max_length=64, index=True)
    at: datetime = Field(default_factory=utcnow, index=True)


class HeldUpload(Base, table=True):
    """A spreadsheet a person uploaded and is previewing: kept until they confirm (or for an hour),
    so the confirm sends the very file the preview was made of, and nothing is written before it.
    Bound to the portal session that uploaded it; dropped once confirmed or expired."""

    __tablename__ = "held_upload"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    session_id: str = Field(max_length=32, index=True)
    kind: str = Field(max_length=32)  # recommendations | follow-ups
    seminar_id: uuid.UUID | None = None
    file_name: str = Field(max_length=200)
    content: bytes = Field(sa_type=LargeBinary)
    preview: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)  # set once confirmed
    created_at: datetime = Field(default_factory=utcnow, index=True)


class DashboardVisit(Base, table=True):
    """When a person last opened the dashboard, and the visit before: "changed since my last
    visit" lists what changed after `previous_seen_at`, also on the page's live refreshes."""

    __tablename__ = "dashboard_visit"
    person_id: uuid.UUID = Field(primary_key=True)
    seen_at: datetime = Field(default_factory=utcnow)
    previous_seen_at: datetime | None = None
