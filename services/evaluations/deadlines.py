"""The deadline scheduler: `followup.due_soon` and `followup.overdue`, once per deadline.

Each tick finds unfinished follow-ups due within `due_soon_days` or past due, and inserts a
notice keyed by (follow-up, kind, due date). The event goes out only when the insert is new,
in the same transaction: not at every tick, not twice when two instances run (the second
instance's insert waits on the unique key, then finds it taken). A changed due date is a new
deadline and gets its own notices.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.evaluations import repository, workflow
from services.evaluations.models import FollowUp
from services.evaluations.service import emit, to_state
from shared.contracts.common import SYSTEM
from shared.contracts.followups import FollowUpDueSoon, FollowUpOverdue
from shared.platform.db import SessionFactory
from shared.platform.outbox import EventSink
from shared.platform.periodic import every
from shared.platform.runtime import Worker


def kind_on(followup: FollowUp, today: date) -> str:
    """The notice a due candidate calls for on `today` (repository.due_candidates asks the same in SQL)."""
    overdue = workflow.is_overdue(followup.due_date, followup.implementation_status, followup.closed, today)
    return "overdue" if overdue else "due_soon"


async def check_deadlines(session: AsyncSession, sink: EventSink, today: date, due_soon_days: int) -> int:
    """Emit the notices due on `today`; answer how many were emitted."""
    emitted = 0
    for followup, replica in await repository.due_candidates(session, today, today + timedelta(days=due_soon_days)):
        assert followup.due_date is not None
        kind = kind_on(followup, today)
        if not await repository.claim_deadline_notice(session, followup.id, kind, followup.due_date):
            continue
        days = (followup.due_date - today).days
        payload = (
            FollowUpOverdue(followup=to_state(followup, replica), actor=SYSTEM, due_date=followup.due_date, days_overdue=-days)
            if kind == "overdue"
            else FollowUpDueSoon(followup=to_state(followup, replica), actor=SYSTEM, due_date=followup.due_date, days_left=days)
        )
        emit(session, sink, payload, followup)
        emitted += 1
    await session.commit()
    return emitted


def deadline_worker(sessions: SessionFactory, sink: EventSink, due_soon_days: int, interval_s: float) -> Worker:
    async def tick() -> int:
        async with sessions() as session:
            return await check_deadlines(session, sink, datetime.now(UTC).date(), due_soon_days)

    return every(interval_s, tick, "deadline check")
