"""HTTP endpoints of the evaluations service: thin; the work is in service.py and progress.py."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Query, Response, UploadFile

from services.evaluations import repository, roundtrip, service, spreadsheet
from services.evaluations.config import Settings
from services.evaluations.models import (
    ChangePublic,
    EvidenceCreate,
    EvidencePublic,
    FollowUpEvidence,
    FollowUpImport,
    FollowUpPublic,
    FollowUpUpdate,
    PeerFollowUp,
    Progress,
    ProgressCells,
    ProgressTimeline,
    VerificationCreate,
)
from services.evaluations.progress import GroupBy, cells, progress, timeline
from shared.contracts.common import Dimension
from shared.contracts.followups import ImplementationStatus, Verification
from shared.contracts.followups import Response as CityResponse
from shared.platform.auth import Principal, Role
from shared.platform.deps import PrincipalDep, RuntimeDep, SessionDep, allow, settings_of
from shared.platform.http import problem_responses
from shared.platform.pagination import Page, PageDep
from shared.platform.sheets import XLSX_MEDIA_TYPE, read_table, write_csv, write_xlsx

router = APIRouter(tags=["follow-ups"])
CityOfficial = Annotated[
    Principal, allow(Role.city_official, why="update follow-ups or add evidence (only the city's own officials may)")
]
LeadPartner = Annotated[Principal, allow(Role.lead_partner, why="verify follow-ups")]
SettingsDep = Annotated[Settings, settings_of(Settings)]
CSV_COLUMNS = (
    "id",
    "city",
    "recommendation_title",
    "dimension",
    "response",
    "implementation_status",
    "verification",
    "owner",
    "responsible_body",
    "planned_completion",
    "due_date",
    "overdue",
    "closed",
    "updated_at",
)


def followup_filter(
    principal: PrincipalDep,
    city: Annotated[str | None, Query(max_length=64)] = None,
    status: ImplementationStatus | None = None,
    response: CityResponse | None = None,
    verification: Verification | None = None,
    seminar: uuid.UUID | None = None,
    dimension: Dimension | None = None,
    overdue: bool | None = None,
    closed: bool | None = None,
    awaiting_verification: Annotated[
        bool | None, Query(description="the lead partner's queue: answered, not yet verified or contested")
    ] = None,
    updated_since: Annotated[datetime | None, Query(description="changed after this instant (ISO 8601)")] = None,
) -> repository.FollowUpFilter:
    # A city official sees only their city's follow-ups, whatever `city` asks for.
    scope = principal.city_scope()
    if scope and city and city != scope:
        principal.require_city(city, "read the follow-ups")
    return repository.FollowUpFilter(
        city=scope or city,
        status=status,
        response=response,
        verification=verification,
        seminar=seminar,
        dimension=dimension,
        overdue=overdue,
        closed=closed,
        awaiting_verification=awaiting_verification,
        updated_since=updated_since,
    )


FilterDep = Annotated[repository.FollowUpFilter, Depends(followup_filter)]


async def calendar(settings: SettingsDep) -> service.Calendar:
    """Today, and the due-soon window of the deadlines, as this answer's follow-ups are judged by."""
    return service.Calendar(datetime.now(UTC).date(), settings.due_soon_days)


CalendarDep = Annotated[service.Calendar, Depends(calendar)]


@router.get("/follow-ups")
async def list_followups(session: SessionDep, filters: FilterDep, page: PageDep, calendar: CalendarDep) -> Page[FollowUpPublic]:
    rows = await repository.list_followups(session, filters, calendar.today, page)
    return Page.of([service.to_public(f, r, calendar) for f, r in rows], page)


@router.get("/follow-ups.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def export_csv(session: SessionDep, filters: FilterDep, calendar: CalendarDep) -> Response:
    """Every follow-up matching the list filters, as CSV (for spreadsheets and reports)."""
    rows = []
    for f, r in await repository.list_followups(session, filters, calendar.today):
        public = service.to_public(f, r, calendar).model_dump(mode="json")
        rows.append([public[c] for c in CSV_COLUMNS])
    return Response(
        write_csv(CSV_COLUMNS, rows),  # formula injection neutralised (shared/platform/sheets.py)
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="follow-ups.csv"'},
    )


@router.get(
    "/follow-ups.xlsx",
    tags=["spreadsheets"],
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The follow-ups as a sheet to edit and upload again"}},
)
async def export_xlsx(session: SessionDep, filters: FilterDep, calendar: CalendarDep) -> Response:
    """Every follow-up matching the list filters as XLSX, with a `version` column: edit response,
    justification, implementation_status, owner, responsible_body, planned_completion and comment,
    then upload the sheet to `POST /follow-ups/import` (docs/spreadsheets.md)."""
    rows = [spreadsheet.export_row(f, r) for f, r in await repository.list_followups(session, filters, calendar.today)]
    # openpyxl is CPU-bound: off the event loop, as the import reads its sheet
    body = await asyncio.to_thread(write_xlsx, roundtrip.EXPORT_COLUMNS, rows, title="follow-ups")
    return Response(
        body,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="follow-ups.xlsx"'},
    )


@router.post("/follow-ups/import", tags=["spreadsheets"], responses=problem_responses(413, 422))
async def import_followups(
    file: Annotated[UploadFile, File(description="A sheet exported from GET /follow-ups.xlsx, edited: XLSX or CSV")],
    session: SessionDep,
    runtime: RuntimeDep,
    principal: CityOfficial,
    dry_run: Annotated[bool, Query(description="Only preview each row's change, refusal or conflict; apply nothing")] = False,
) -> FollowUpImport:
    """Upload a city's edited follow-up sheet. Each changed row is saved like the form (same rules,
    history marked "imported from a spreadsheet", same events); refused transitions and conflicts
    (the follow-up changed since the export) are reported and not applied. `dry_run=true` answers
    the preview `{"rows": [...], "errors": [{"row", "column", "detail"}]}` and writes nothing."""
    table = await asyncio.to_thread(read_table, await file.read(), file.filename, max_rows=roundtrip.MAX_ROWS)
    return await spreadsheet.import_followups(session, runtime, table, principal, dry_run=dry_run)


@router.get("/follow-ups/{followup_id}")
async def get_followup(
    followup_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, response: Response, calendar: CalendarDep
) -> FollowUpPublic:
    followup, replica = await service.readable_row(session, followup_id, principal)
    response.headers["ETag"] = service.etag(followup)
    return service.to_public(followup, replica, calendar)


@router.patch("/follow-ups/{followup_id}", responses=problem_responses(412, 428))
async def update_followup(
    followup_id: uuid.UUID,
    data: FollowUpUpdate,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: CityOfficial,
    response: Response,
    calendar: CalendarDep,
    if_match: Annotated[str | None, Header(max_length=200)] = None,
) -> FollowUpPublic:
    """Record the city's response and implementation status. Send `If-Match` with the ETag you read."""
    followup, replica = await service.update(session, runtime, followup_id, data, if_match, principal)
    response.headers["ETag"] = service.etag(followup)
    return service.to_public(followup, replica, calendar)


@router.post("/follow-ups/{followup_id}/evidence", status_code=201)
async def add_evidence(
    followup_id: uuid.UUID, data: EvidenceCreate, session: SessionDep, runtime: RuntimeDep, principal: CityOfficial
) -> EvidencePublic:
    return EvidencePublic.model_validate(
        await service.add_evidence(session, runtime, followup_id, data, principal), from_attributes=True
    )


@router.post("/follow-ups/{followup_id}/evidence/file", status_code=201, responses=problem_responses(413, 415))
async def upload_evidence(
    followup_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: CityOfficial,
    file: Annotated[UploadFile, File(description="PDF, office document or image; its type is read from its content")],
    title: Annotated[str, Form(min_length=1, max_length=300)],
    public: Annotated[bool, Form()] = False,
) -> EvidencePublic:
    """Upload a file as evidence (multipart). Its type is checked from its bytes, not its name."""
    limit = runtime.settings.upload_max_bytes
    content = await file.read(limit + 1)
    item = await service.add_evidence_file(
        session,
        runtime,
        followup_id,
        principal,
        title=title,
        public=public,
        file_name=file.filename,
        content=content,
        max_bytes=limit,
    )
    return EvidencePublic.model_validate(item, from_attributes=True).model_copy(
        update={"download_path": f"/follow-ups/{followup_id}/evidence/{item.id}/file"}
    )


@router.get("/follow-ups/{followup_id}/evidence")
async def list_evidence(followup_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> list[EvidencePublic]:
    """The city's evidence, then the inter-cluster links that answer the recommendation (`source:
    cluster_link`, with the link's current status; a cancelled link is not shown)."""
    return await service.evidence_of(session, followup_id, principal)


@router.get("/evidence")
async def list_evidence_of_seminar(
    session: SessionDep, principal: PrincipalDep, filters: FilterDep, calendar: CalendarDep
) -> list[FollowUpEvidence]:
    """The evidence of every follow-up of one seminar at once (`seminar` required; the list filters
    apply), each as `GET /follow-ups/{id}/evidence` lists it: for pages that show a seminar's responses."""
    return await service.evidence_of_seminar(session, filters, calendar.today, principal)


@router.get("/follow-ups/{followup_id}/peers")
async def list_peers(followup_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> list[PeerFollowUp]:
    """Peer learning, "the same advice elsewhere": follow-ups in other cities whose recommendation shares
    this one's dimension and a tag, or is explicitly related; with their response, status and public
    evidence only. A city official reads the peers of their own city's follow-ups."""
    return await service.peers(session, followup_id, principal)


@router.get(
    "/follow-ups/{followup_id}/evidence/{evidence_id}/file",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_evidence(
    followup_id: uuid.UUID, evidence_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    """An uploaded evidence file, for whoever may see that evidence (public, or private to the city,
    the lead partner and admins)."""
    evidence, stored = await service.evidence_file(session, followup_id, evidence_id, principal)
    return Response(
        stored.content,
        media_type=evidence.media_type or "application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{evidence.file_name or "evidence"}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "ETag": f'"{stored.sha256}"',
        },
    )


@router.post("/follow-ups/{followup_id}/verification")
async def verify(
    followup_id: uuid.UUID,
    data: VerificationCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: LeadPartner,
    response: Response,
    calendar: CalendarDep,
) -> FollowUpPublic:
    """The lead partner verifies or contests the city's self-reported status."""
    followup, replica = await service.verify(session, runtime, followup_id, data, principal)
    response.headers["ETag"] = service.etag(followup)
    return service.to_public(followup, replica, calendar)


@router.get("/follow-ups/{followup_id}/history")
async def history(followup_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> list[ChangePublic]:
    changes = await service.history_of(session, followup_id, principal)
    return [ChangePublic.model_validate(c, from_attributes=True) for c in changes]


@router.get("/progress", tags=["progress"])
async def get_progress(
    session: SessionDep, principal: PrincipalDep, by: GroupBy = GroupBy.city, as_of: date | None = None
) -> Progress:
    """Counts per status, share implemented and the overdue list; `as_of` replays the history to that day."""
    return await progress(session, by, as_of, principal.city_scope())


@router.get("/progress/cells", tags=["progress"])
async def get_progress_cells(
    session: SessionDep, principal: PrincipalDep, as_of: date | None = None, with_text: bool = False
) -> ProgressCells:
    """Each open follow-up's status at the end of `as_of` (the rows `/progress` counts): the matrix.
    `with_text`: each with its recommendation's current text, for an export of the matrix."""
    return await cells(session, as_of, principal.city_scope(), with_text)


@router.get("/progress/timeline", tags=["progress"])
async def get_progress_timeline(session: SessionDep, principal: PrincipalDep) -> ProgressTimeline:
    """The share implemented at each month's end since the first follow-up opened (`/progress?as_of=`)."""
    return await timeline(session, principal.city_scope())
