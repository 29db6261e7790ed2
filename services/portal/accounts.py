"""People accounts and API tokens for the admin pages. Both live in the auth database beside the
portal's sessions (shared/platform/people.py, auth.py); no service serves them over HTTP, so the
portal calls those functions directly: each commits once. Who may do this is checked by
`admin.require_admin` with the platform's own `Principal.require`."""

from __future__ import annotations

from sqlmodel import col, select

from shared.platform import auth, people
from shared.platform.db import SessionFactory


async def list_people(sessions: SessionFactory) -> list[people.Person]:
    async with sessions() as session:
        return list((await session.exec(select(people.Person).order_by(col(people.Person.email)))).all())


async def add_person(
    sessions: SessionFactory, *, email: str, name: str, role: auth.Role, city: str | None, language: str
) -> tuple[people.Person, str]:
    """A new person and their generated password (shown once to the admin, never stored)."""
    async with sessions() as session:
        return await people.create_person(session, email=email, name=name, role=role, city=city, language=language)


async def integration_tokens(sessions: SessionFactory) -> list[auth.ApiToken]:
    """Programs' tokens (a person's sign-in tokens come and go with their sessions)."""
    async with sessions() as session:
        return [t for t in await auth.list_tokens(session) if t.person_email is None]


async def create_token(sessions: SessionFactory, *, role: auth.Role, city: str | None, label: str) -> tuple[auth.ApiToken, str]:
    async with sessions() as session:
        return await auth.create_token(session, role, city=city, label=label or None)


async def revoke_token(sessions: SessionFactory, token_id: str) -> bool:
    async with sessions() as session:
        return await auth.revoke_token(session, token_id)
