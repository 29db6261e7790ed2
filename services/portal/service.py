"""Use cases of the portal: sign in, recognise a session, sign out, hold an uploaded sheet until
its preview is confirmed. Each commits once.

Sign-in mints an API token for the person (their role and city, expiring with the session), so
that every page calls the services as that person and the services keep enforcing every rule.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlmodel.ext.asyncio.session import AsyncSession

from services.portal import repository, rules
from services.portal.config import Settings
from services.portal.models import HeldUpload, PortalSession, SignInFailure
from shared.platform import auth, people
from shared.platform.db import SessionFactory


class SignInRefused(Exception):
    """Wrong email or password (deliberately not saying which), or too many attempts."""

    def __init__(self, throttled: bool) -> None:
        super().__init__("throttled" if throttled else "wrong email or password")
        self.throttled = throttled


@dataclass(frozen=True)
class SignedIn:
    """What a page knows about the person in front of it."""

    session: PortalSession
    bearer: str  # the person's API token, unsealed for this request only

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


def _limits(settings: Settings) -> rules.ThrottleLimits:
    return rules.ThrottleLimits(
        per_account=settings.throttle_per_account,
        per_address=settings.throttle_per_address,
        window=timedelta(minutes=settings.throttle_window_minutes),
    )


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def sign_in(
    portal: AsyncSession, auth_sessions: SessionFactory, settings: Settings, email: str, password: str, address: str
) -> tuple[SignedIn, str]:
    """Check the password (unless throttled), mint the person's token, open a session.
    Answers the session and the cookie value, `<id>.<key>`."""
    now = datetime.now(UTC)
    email = people.normalise_email(email)[:254]
    limits = _limits(settings)
    failures = await repository.recent_failures(portal, now - limits.window, email=email, address=address)
    if rules.sign_in_throttled(*failures, limits):
        raise SignInRefused(throttled=True)
    async with auth_sessions() as session:
        person = await people.authenticate(session, email, password)
        if person is not None:
            expires_in = timedelta(hours=settings.session_absolute_hours)
            token_row, bearer = await auth.create_token(
                session,
                person.role,
                person.city,
                label=f"portal session of {person.email}",
                expires_in=expires_in,
                person_email=person.email,
            )
    if person is None:
        portal.add(SignInFailure(email=email, address=address[:64], at=now))
        await repository.drop_old_failures(portal, now - limits.window)
        await portal.commit()
        raise SignInRefused(throttled=False)
    key = Fernet.generate_key().decode()
    row = PortalSession(
        id=secrets.token_hex(16),
        key_hash=_hash(key),
        person_id=person.id,
        email=person.email,
        name=person.name,
        role=person.role.value,
        city=person.city,
        language=person.language,
        api_token_id=token_row.id,
        api_token_sealed=Fernet(key.encode()).encrypt(bearer.encode()).decode(),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=token_row.expires_at or now + expires_in,
    )
    portal.add(row)
    await repository.forget_failures(portal, email)
    await portal.commit()
    return SignedIn(session=row, bearer=bearer), f"{row.id}.{key}"


async def recognise(
    portal: AsyncSession, auth_sessions: SessionFactory, settings: Settings, cookie: str, *, touch: bool = True
) -> SignedIn | None:
    """The live session this cookie opens, or None. An expired one is closed on the way. `touch`:
    this is the person's activity (a page), which keeps the session from idling out; a check made
    by an open stream is not."""
    session_id, _, key = cookie.partition(".")
    row = await repository.get_session(portal, session_id[:32]) if session_id and key else None
    if row is None or not hmac.compare_digest(row.key_hash, _hash(key)):
        return None
    now = datetime.now(UTC)
    state = rules.session_state(now, row.last_seen_at, row.expires_at, timedelta(minutes=settings.session_idle_minutes))
    if state != rules.SessionState.active:
        await _close(portal, auth_sessions, row)
        return None
    try:
        bearer = Fernet(key.encode()).decrypt(row.api_token_sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None
    if touch and rules.needs_touch(now, row.last_seen_at):
        row.last_seen_at = now
        await portal.commit()
    return SignedIn(session=row, bearer=bearer)


async def sign_out(portal: AsyncSession, auth_sessions: SessionFactory, signed_in: SignedIn) -> None:
    await _close(portal, auth_sessions, signed_in.session)


async def _close(portal: AsyncSession, auth_sessions: SessionFactory, row: PortalSession) -> None:
    """Revoke the session's token first: if the portal's delete failed after it, the cookie would
    still open a row whose token the services refuse, never the other way round."""
    async with auth_sessions() as session:
        await auth.revoke_token(session, row.api_token_id)
    await portal.delete(row)
    await portal.commit()


# --- spreadsheets held between preview and confirm -----------------------------------------------
UPLOAD_KEPT = timedelta(hours=1)


async def hold_upload(
    portal: AsyncSession,
    signed_in: SignedIn,
    *,
    kind: str,
    seminar_id: uuid.UUID | None,
    file_name: str,
    content: bytes,
    preview: dict[str, Any],
) -> HeldUpload:
    """Keep an uploaded sheet and its preview until the person confirms (uploads older than an
    hour, confirmed or not, are dropped on the way: the portal keeps no one's files)."""
    now = datetime.now(UTC)
    await repository.drop_old_uploads(portal, now - UPLOAD_KEPT)
    row = HeldUpload(
        session_id=signed_in.session.id,
        kind=kind,
        seminar_id=seminar_id,
        file_name=file_name[:200],
        content=content,
        preview=preview,
        created_at=now,
    )
    portal.add(row)
    await portal.commit()
    return row


async def held_upload(portal: AsyncSession, signed_in: SignedIn, upload_id: uuid.UUID) -> HeldUpload | None:
    row = await repository.held_upload(portal, upload_id, signed_in.session.id)
    if row is None or row.created_at < datetime.now(UTC) - UPLOAD_KEPT:
        return None
    return row


async def upload_confirmed(portal: AsyncSession, row: HeldUpload, result: dict[str, Any]) -> None:
    """The service did the import: keep its answer for the result page, drop the file itself."""
    row.result, row.content = result, b""
    await portal.commit()
