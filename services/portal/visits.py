"""'Changed since my last visit' on the dashboard: the portal remembers, per person, when they
last opened it (its own table; the follow-ups themselves stay in evaluations). One commit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.portal.models import DashboardVisit


async def last_visit(db: AsyncSession, person_id: uuid.UUID, *, opening: bool) -> datetime | None:
    """The visit before this one. `opening` (a full page load, not a live refresh) records this
    visit, so the next opening compares with it; a live refresh keeps comparing with the same."""
    visit = await db.get(DashboardVisit, person_id)
    if not opening:
        return visit.previous_seen_at if visit else None
    now = datetime.now(UTC)
    if visit is None:
        db.add(DashboardVisit(person_id=person_id, seen_at=now))
        await db.commit()
        return None
    visit.previous_seen_at, visit.seen_at = visit.seen_at, now
    previous = visit.previous_seen_at
    await db.commit()
    return previous
