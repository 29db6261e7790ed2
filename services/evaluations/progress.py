"""The lead partner's view: counts per status and share implemented, by city, seminar or dimension.

`as_of` answers where every follow-up stood at the end of that day (UTC), replayed from the
history: the follow-ups opened by then, each with the last status recorded by then.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.evaluations import repository, workflow
from services.evaluations.models import FollowUp, OverdueItem, Progress, ProgressGroup, RecommendationReplica
from shared.contracts.followups import ImplementationStatus, Response


class GroupBy(StrEnum):
    city = "city"
    seminar = "seminar"
    dimension = "dimension"


def _key(by: GroupBy, f: FollowUp, r: RecommendationReplica) -> str:
    if by == GroupBy.city:
        return f.city
    if by == GroupBy.seminar:
        return f"{r.seminar_host_city} {r.seminar_id}"
    return r.dimension.value


async def progress(session: AsyncSession, by: GroupBy, as_of: date | None, city: str | None) -> Progress:
    today = datetime.now(UTC).date()
    day = as_of or today
    rows = await repository.list_followups(session, repository.FollowUpFilter(city=city), today)
    if as_of is not None and as_of < today:
        rows = await _as_of(session, rows, as_of)
    groups: dict[str, list[tuple[FollowUp, RecommendationReplica]]] = defaultdict(list)
    overdue: list[OverdueItem] = []
    for f, r in rows:
        if f.closed:
            continue
        groups[_key(by, f, r)].append((f, r))
        if f.due_date and workflow.is_overdue(f.due_date, f.implementation_status, f.closed, day):
            overdue.append(
                OverdueItem(
                    id=f.id,
                    city=f.city,
                    recommendation_title=r.title,
                    due_date=f.due_date,
                    implementation_status=f.implementation_status,
                )
            )
    return Progress(
        by=by.value,
        as_of=day,
        groups=[_summary(k, v, day) for k, v in sorted(groups.items())],
        overdue=sorted(overdue, key=lambda o: (o.due_date, o.city)),
    )


def _summary(key: str, rows: list[tuple[FollowUp, RecommendationReplica]], day: date) -> ProgressGroup:
    statuses = Counter(f.implementation_status.value for f, _ in rows)
    responses = Counter(f.response.value for f, _ in rows)
    overdue = sum(1 for f, _ in rows if workflow.is_overdue(f.due_date, f.implementation_status, f.closed, day))
    return ProgressGroup(
        key=key,
        total=len(rows),
        by_status={s.value: statuses.get(s.value, 0) for s in ImplementationStatus},
        by_response={r.value: responses.get(r.value, 0) for r in Response},
        implemented_share=round(statuses.get("implemented", 0) / len(rows), 4),
        overdue=overdue,
    )


async def _as_of(session: AsyncSession, rows: Sequence[repository.Row], as_of: date) -> list[repository.Row]:
    """Copies of the follow-ups as they stood at the end of `as_of`, replayed from the history."""
    cutoff = datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)
    changes = await repository.changes_until(session, [f.id for f, _ in rows], cutoff - timedelta(microseconds=1))
    state: dict[Any, dict[str, Any]] = {}
    for change in changes:
        if change.field == "opened":
            state[change.followup_id] = {
                "implementation_status": ImplementationStatus.not_started,
                "response": Response.pending,
                "closed": False,
                "due_date": None,
            }
        elif change.followup_id in state:
            _apply(state[change.followup_id], change.field, change.new)
    past = []
    for f, r in rows:
        if f.id in state:
            past.append((FollowUp.model_validate({**f.model_dump(), **state[f.id]}), r))
    return past


def _apply(values: dict[str, Any], field: str, new: str | None) -> None:
    if field == "implementation_status" and new:
        values[field] = ImplementationStatus(new)
    elif field == "response" and new:
        values[field] = Response(new)
    elif field == "closed":
        values["closed"] = new == "True"
    elif field == "due_date":
        values["due_date"] = date.fromisoformat(new) if new else None
