"""People accounts: who may sign in to the portal, beside the API tokens in the auth database.

A person has a role and (a city official) a city, exactly like a token: on sign-in the portal
mints a short-lived token with them, so the services enforce the same rules for a person in a
browser as for a program. Passwords are hashed with Argon2id (argon2-cffi, the reference
implementation's bindings, with its maintained default cost parameters).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Field, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts.common import Language
from shared.platform.auth import AuthBase, Role

_hasher = PasswordHasher()
# Verified against when the email is unknown, so that an unknown email costs the same time as a
# wrong password and the answer's timing does not tell which accounts exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Person(AuthBase, table=True):
    __tablename__ = "person"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(max_length=200)
    role: Role
    city: str | None = Field(default=None, max_length=64)
    language: str = Field(default="en", max_length=5)
    password_hash: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    disabled_at: datetime | None = None


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def create_person(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    role: Role,
    city: str | None = None,
    language: str = "en",
    password: str | None = None,
) -> tuple[Person, str]:
    """Store a new person; return it and its password (generated when none is given)."""
    if role == Role.city_official and not city:
        raise ValueError("a city_official needs --city")
    if role != Role.city_official and city:
        raise ValueError("only a city_official is bound to a city")
    if language not in set(Language):
        raise ValueError(f"language must be one of {', '.join(Language)}")
    email = normalise_email(email)
    if "@" not in email:
        raise ValueError("an email address needs an @")
    if (await session.exec(select(Person).where(Person.email == email))).first() is not None:
        raise ValueError(f"a person with email {email} already exists")
    password = password or secrets.token_urlsafe(12)
    person = Person(email=email, name=name.strip(), role=role, city=city, language=language, password_hash=_hasher.hash(password))
    session.add(person)
    await session.commit()
    return person, password


async def authenticate(session: AsyncSession, email: str, password: str) -> Person | None:
    """The person whose email and password these are, or None (for either mistake alike)."""
    person = (await session.exec(select(Person).where(Person.email == normalise_email(email)))).first()
    try:
        _hasher.verify(person.password_hash if person else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if person is None or person.disabled_at is not None:
        return None
    return person
