"""A city's follow-ups through a spreadsheet (the rules are in roundtrip.py): the export's rows, and
the import, whose every change goes through service.update like a form save."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.evaluations import repository, roundtrip
from services.evaluations.models import (
    FollowUp,
    FollowUpImport,
    FollowUpUpdate,
    RecommendationReplica,
)
from services.evaluations.service import etag_of, update
from shared.platform.auth import Principal, Role
from shared.platform.errors import DomainError, Invalid, PreconditionFailed
from shared.platform.outbox import EventSink
from shared.platform.sheets import RowError, Table, errors_json


def current_of(f: FollowUp) -> roundtrip.Current:
    return roundtrip.Current(
        id=f.id,
        version=f.version,
        city=f.city,
        response=f.response,
        justification=f.response_justification,
        implementation_status=f.implementation_status,
        owner=f.owner,
        responsible_body=f.responsible_body,
        planned_completion=f.planned_completion,
        closed_reason=(f.closed_reason or "closed") if f.closed else None,
    )


def export_row(f: FollowUp, r: RecommendationReplica) -> list[object]:
    """One row of the follow-up sheet, in roundtrip.EXPORT_COLUMNS order (comment left blank)."""
    return [
        f.id,
        f.version,
        f.city,
        r.title,
        r.dimension.value,
        f.due_date,
        f.response.value,
        f.response_justification,
        f.implementation_status.value,
        f.owner,
        f.responsible_body,
        f.planned_completion,
        None,
    ]


async def import_followups(
    session: AsyncSession, sink: EventSink, table: Table, principal: Principal, *, dry_run: bool
) -> FollowUpImport:
    """Preview (dry run) or apply a city's uploaded follow-up sheet.

    A row error (an unknown id, a status that does not exist…) refuses the whole upload (422, every
    error listed). Otherwise each changed row goes through `update`, the very function of a form
    save (same rules, history, events), marked in the history as imported from a spreadsheet;
    refused transitions and conflicts are reported, not applied.
    """
    principal.require(Role.city_official, why="upload follow-ups (only the city's own officials may)")
    rows, parse_errors = roundtrip.parse(table)
    errors = list(parse_errors)
    found = {f.id: f for f, _ in await repository.rows_by_ids(session, [r.id for r in rows])}
    plans = []
    for row in rows:
        followup = found.get(row.id)
        if followup is None or followup.city != principal.city_scope():
            # another city's follow-up is reported as unknown too: an upload reveals nothing of it
            errors.append(RowError(row.row, "id", f"no follow-up {row.id} of your city"))
            continue
        plans.append((row, roundtrip.plan(row, current_of(followup))))
    await session.rollback()  # the reads end here; each applied row is its own transaction
    error_list = errors_json(errors)
    if errors and not dry_run:
        raise Invalid(
            f"{len(errors)} error(s) in the sheet: nothing was applied; correct the rows and upload the file again",
            errors=error_list,
        )
    if not dry_run:
        for row, plan in plans:
            if plan.action != "change":
                continue
            data = FollowUpUpdate.model_validate(
                {**plan.update(), "comment": roundtrip.comment_of(row, "response" in plan.changes)}
            )
            try:
                await update(session, sink, row.id, data, etag_of(row.id, row.version), principal, via=roundtrip.IMPORTED)
                plan.action = "applied"
            except PreconditionFailed as exc:  # changed between the preview and this row
                await session.rollback()
                plan.action, plan.reason = "conflict", exc.detail
            except DomainError as exc:
                await session.rollback()
                plan.action, plan.reason = "refused", exc.detail
    counts: dict[str, int] = {}
    for _, plan in plans:
        counts[plan.action] = counts.get(plan.action, 0) + 1
    return FollowUpImport(rows=[p.public() for _, p in plans], errors=error_list, counts=counts, dry_run=dry_run)
