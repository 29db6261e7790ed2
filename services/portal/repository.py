"""Queries of the portal. No commits here: the service layer commits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.portal.models import HeldUpload, PortalSession, SignInFailure


async def recent_failures(session: AsyncSession, since: datetime, *, email: str, address: str) -> tuple[int, int]:
    """Failed sign-ins since `since`: (for this email, from this address)."""
    recent = col(SignInFailure.at) >= since
    by_email = select(func.count()).where(recent, SignInFailure.email == email)
    by_address = select(func.count()).where(recent, SignInFailure.address == address)
    return (await session.exec(by_email)).one(), (await session.exec(by_address)).one()


async def forget_failures(session: AsyncSession, email: str) -> None:
    await session.exec(delete(SignInFailure).where(col(SignInFailure.email) == email))


async def drop_old_failures(session: AsyncSession, before: datetime) -> None:
    await session.exec(delete(SignInFailure).where(col(SignInFailure.at) < before))


async def get_session(session: AsyncSession, session_id: str) -> PortalSession | None:
    return await session.get(PortalSession, session_id)


async def held_upload(session: AsyncSession, upload_id: uuid.UUID, session_id: str) -> HeldUpload | None:
    """A held upload of this portal session only: another person's id opens nothing."""
    found = await session.get(HeldUpload, upload_id)
    return found if found is not None and found.session_id == session_id else None


async def drop_old_uploads(session: AsyncSession, before: datetime) -> None:
    await session.exec(delete(HeldUpload).where(col(HeldUpload.created_at) < before))
