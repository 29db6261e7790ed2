"""The spreadsheet import of a seminar's recommendations (the rules are in importing.py): a preview,
all rows as drafts in one transaction, and large files as a background job."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.recommendations import importing, repository
from services.recommendations.models import (
    ImportJob,
    ImportPreview,
    Recommendation,
    RecommendationDraft,
)
from services.recommendations.service import _record, seminar_or_404
from shared.contracts.common import Actor
from shared.platform.db import SessionFactory, after_commit
from shared.platform.errors import Invalid
from shared.platform.jobs import JobFields, JobHandler, Progress
from shared.platform.outbox import EventSink
from shared.platform.sheets import Table, errors_json, read_table

IMPORT_JOB = "recommendations.import"
IMPORT_JOB_ROWS = 500  # an import of more rows is a background job (the API answers 202 at once)
IMPORT_CHUNK = 500  # rows flushed (and progress reported) at a time


async def import_sheet(
    session: AsyncSession,
    seminar_id: uuid.UUID,
    table: Table,
    actor: Actor,
    *,
    dry_run: bool,
    progress: Progress | None = None,
) -> ImportPreview:
    """Preview (dry run) or import a sheet of recommendations as drafts of the seminar.

    All or nothing: any row error refuses the whole import (422, the errors listed); otherwise every
    new row becomes a draft in this one transaction. Rows imported before (same content key) and
    repeated rows are reported and skipped. Drafts emit no event, as a single draft does not.
    """
    # The seminar's row lock serialises imports into one seminar, so two of the same file cannot
    # both find their keys new (the unique constraint on (seminar_id, import_key) is the backstop).
    seminar = await seminar_or_404(session, seminar_id, for_update=not dry_run)
    parsed = importing.parse(table)
    related = {i for r in parsed.rows for i in r.fields["related_ids"]}
    parsed.errors += importing.check_references(
        parsed.rows,
        host_city=seminar.host_city,
        cities=await repository.city_slugs(session),
        held_on=seminar.held_on,
        known_ids=await repository.existing_ids(session, list(related)),
    )
    errors = errors_json(parsed.errors)
    seen = await repository.import_keys(session, seminar.id)
    first_row: dict[str, int] = {}
    rows, new = [], []
    failed = {e.row for e in parsed.errors}
    for r in (r for r in parsed.rows if r.row not in failed):
        if r.key in seen:
            action = "exists"
        elif r.key in first_row:
            action = f"repeats row {first_row[r.key]}"
        else:
            action, first_row[r.key] = "create", r.row
            new.append(r)
        rows.append({**r.preview(), "action": action})
    preview = ImportPreview(rows=rows, errors=errors, created=len(new), unchanged=len(rows) - len(new), dry_run=dry_run)
    if dry_run:
        await session.rollback()
        return preview
    if errors:
        raise Invalid(
            f"{len(errors)} error(s) in the sheet: nothing was imported; correct the rows and upload the file again",
            errors=errors,
        )
    for start in range(0, len(new), IMPORT_CHUNK):
        for r in new[start : start + IMPORT_CHUNK]:
            draft = RecommendationDraft.model_validate(r.fields)
            target = draft.target_city or seminar.host_city
            rec = Recommendation.model_validate(
                {**draft.model_dump(), "seminar_id": seminar.id, "target_city": target, "import_key": r.key}
            )
            session.add(rec)
            _record(session, rec, "drafted", actor, "imported from a spreadsheet")
        await session.flush()
        if progress is not None:
            await progress(min(start + IMPORT_CHUNK, len(new)), len(new))
    await session.commit()
    return preview


async def queue_import(
    session: AsyncSession, sink: EventSink, seminar_id: uuid.UUID, data: bytes, filename: str | None, rows: int, actor: Actor
) -> ImportJob:
    """Store a large import as a job; the service's job runner works it (see import_job_handler)."""
    await seminar_or_404(session, seminar_id)
    job = ImportJob(
        kind=IMPORT_JOB,
        params={"seminar_id": str(seminar_id), "filename": filename, "actor": actor.model_dump()},
        file=data,
        actor_id=actor.id,
        total=rows,
    )
    session.add(job)
    # This process's job runner starts it at once; a job queued by another process waits at most its poll.
    after_commit(session, sink.wake_workers)
    await session.commit()
    return job


def import_job_handler(sessions: SessionFactory) -> JobHandler:
    async def run(job: JobFields, progress: Progress) -> dict[str, Any]:
        table = read_table(job.file, job.params.get("filename"))
        async with sessions() as session:
            preview = await import_sheet(
                session,
                uuid.UUID(job.params["seminar_id"]),
                table,
                Actor.model_validate(job.params["actor"]),
                dry_run=False,
                progress=progress,
            )
        return {"created": preview.created, "unchanged": preview.unchanged, "errors": preview.errors}

    return run
