"""Bearer tokens and the permission checks every service uses.

A token reads `clusnet_<id>_<secret>`: the prefix makes a leaked one recognisable (secret
scanners can match it), the id finds its row, and only the SHA-256 of the secret is stored.
Tokens live in one small database (`auth_database_url`) that the CLI writes and each service
reads for itself; see docs/security.md for why.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts.common import PRIVATE_EVIDENCE_READERS, Actor
from shared.platform.db import SessionFactory
from shared.platform.errors import Forbidden, Unauthorized

PREFIX = "clusnet_"


class Role(StrEnum):
    admin = "admin"
    lead_partner = "lead_partner"
    city_official = "city_official"
    integration = "integration"


class AuthBase(SQLModel, registry=registry()):
    pass


class ApiToken(AuthBase, table=True):
    __tablename__ = "api_token"
    id: str = Field(primary_key=True, max_length=16)
    secret_hash: str = Field(max_length=64)
    role: Role
    city: str | None = Field(default=None, max_length=64)
    label: str | None = Field(default=None, max_length=200)
    # Set on the tokens the portal mints at sign-in: the person (by email) the token acts for.
    person_email: str | None = Field(default=None, max_length=254)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class Principal(BaseModel):
    token_id: str
    role: Role
    city: str | None = None
    expires_at: datetime | None = None
    person_email: str | None = None  # a person signed in through the portal; None for a program's token

    def actor(self) -> Actor:
        return Actor(id=self.token_id, role=self.role.value, city=self.city)

    def require(self, *roles: Role, why: str) -> None:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"role {self.role.value} may not {why} (allowed: {allowed})")

    def require_city(self, city: str, why: str) -> None:
        """City officials act only on their own city."""
        if self.role == Role.city_official and self.city != city:
            raise Forbidden(f"a city official of {self.city} may not {why} of {city}")

    def require_person(self, why: str) -> str:
        """The email of the person this token acts for; a program's token may not act as a person."""
        if not self.person_email:
            raise Forbidden(f"only a person signed in to the portal may {why} (this token belongs to no person)")
        return self.person_email

    def city_scope(self) -> str | None:
        """The only city this principal may see follow-ups of, or None for all."""
        return self.city if self.role == Role.city_official else None

    def sees_private_evidence(self) -> bool:
        """Private evidence is for the city's officials (of the follow-ups they may read: see
        `city_scope`), the lead partner and admins; an integration sees public evidence only,
        through every door: the lists, the history, the event feed (docs/security.md)."""
        return self.role in PRIVATE_EVIDENCE_READERS


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_token(
    session: AsyncSession,
    role: Role,
    city: str | None = None,
    label: str | None = None,
    expires_in: timedelta | None = None,
    person_email: str | None = None,
) -> tuple[ApiToken, str]:
    """Store a new token; return its row and the token text (shown once, never stored)."""
    if role == Role.city_official and not city:
        raise ValueError("a city_official token needs --city")
    if role != Role.city_official and city:
        raise ValueError("only city_official tokens are bound to a city")
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + expires_in if expires_in else None
    row = ApiToken(
        id=token_id,
        secret_hash=_hash(secret),
        role=role,
        city=city,
        label=label,
        expires_at=expires_at,
        person_email=person_email,
    )
    session.add(row)
    await session.commit()
    return row, f"{PREFIX}{token_id}_{secret}"


async def revoke_token(session: AsyncSession, token_id: str) -> bool:
    row = await session.get(ApiToken, token_id)
    if row is None:
        return False
    row.revoked_at = row.revoked_at or datetime.now(UTC)
    await session.commit()
    return True


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    return list((await session.exec(select(ApiToken).order_by(col(ApiToken.created_at)))).all())


async def verify(session: AsyncSession, token: str) -> Principal:
    body = token.removeprefix(PREFIX) if token.startswith(PREFIX) else None
    token_id, _, secret = (body or "").partition("_")
    row = await session.get(ApiToken, token_id) if token_id and secret else None
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
        raise Unauthorized("the bearer token is not valid")
    if row.revoked_at is not None:
        raise Unauthorized("the bearer token has been revoked")
    if row.expires_at is not None and row.expires_at.replace(tzinfo=row.expires_at.tzinfo or UTC) <= datetime.now(UTC):
        raise Unauthorized("the bearer token has expired")
    return Principal(token_id=row.id, role=row.role, city=row.city, expires_at=row.expires_at, person_email=row.person_email)


class PrincipalCache:
    """Verified tokens, kept `ttl_s` seconds per process: one database read per token and TTL,
    not per request. The price: a revocation takes effect within `ttl_s` (AUTH_CACHE_S)."""

    MAX_ENTRIES = 10_000

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Principal]] = {}

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(self._key(token))
        if entry is None or entry[0] < time.monotonic():
            return None
        principal = entry[1]
        if principal.expires_at is not None and principal.expires_at <= datetime.now(UTC):
            return None
        return principal

    def put(self, token: str, principal: Principal) -> None:
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[self._key(token)] = (time.monotonic() + self.ttl_s, principal)


class TokenVerifier:
    """Verifies bearer tokens against the token database, trusting a verified one for `ttl_s`.

    Requests that find the same token unverified at once share one read: when a busy client's
    entry expired, its 32 requests in progress each read the token, on the pool's 5 connections
    and up to 20 more opened for it and closed after, every `ttl_s` (3 % of the issue API's CPU)."""

    def __init__(self, sessions: SessionFactory, ttl_s: float) -> None:
        self.sessions = sessions
        self.cache = PrincipalCache(ttl_s)
        self._verifying: dict[str, asyncio.Future[Principal]] = {}  # token → its read in progress

    async def principal(self, token: str) -> Principal:
        if (principal := self.cache.get(token)) is not None:
            return principal
        if (reading := self._verifying.get(token)) is None:
            reading = self._verifying[token] = asyncio.ensure_future(self._verify(token))
            reading.add_done_callback(lambda done: self._done(token, done))
        return await asyncio.shield(reading)  # one request cancelled does not cancel the others' read

    async def _verify(self, token: str) -> Principal:
        async with self.sessions() as session:
            principal = await verify(session, token)
        self.cache.put(token, principal)
        return principal

    def _done(self, token: str, reading: asyncio.Future[Principal]) -> None:
        del self._verifying[token]
        if not reading.cancelled():
            reading.exception()  # retrieved here too: every request waiting may have gone
