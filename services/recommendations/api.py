"""HTTP endpoints of the recommendations service: thin; the work is in service.py."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Header, Query, Response, UploadFile
from fastapi.responses import JSONResponse

from services.recommendations import domain, importing, imports, links, repository, service
from services.recommendations.models import (
    Cluster,
    ClusterCreate,
    ClusterLinkCreate,
    ClusterLinkTransition,
    HistoryEntryPublic,
    ImportJob,
    ImportPreview,
    Network,
    Partner,
    PartnerCreate,
    RecommendationDraft,
    RecommendationPublic,
    RecommendationRevision,
    SeminarCreate,
    SeminarPublic,
    Withdrawal,
)
from shared.contracts.common import Dimension
from shared.contracts.recommendations import ClusterLinkKind, ClusterLinkState, ClusterLinkStatus, RecommendationStatus
from shared.platform.auth import Principal, Role
from shared.platform.deps import PrincipalDep, RuntimeDep, SessionDep, allow
from shared.platform.errors import NotFound
from shared.platform.http import problem_responses
from shared.platform.jobs import JobPublic, job_or_404
from shared.platform.pagination import Page, PageDep
from shared.platform.sheets import XLSX_MEDIA_TYPE, read_table, write_csv, write_xlsx

router = APIRouter()
Admin = Annotated[Principal, allow(Role.admin, why="manage partners and clusters")]
LeadPartner = Annotated[
    Principal, allow(Role.lead_partner, why="schedule seminars or draft, issue, revise, withdraw recommendations")
]
LinkManager = Annotated[Principal, allow(Role.admin, Role.lead_partner, why="establish, activate, end or cancel cluster links")]
LinkProposer = Annotated[
    Principal,
    allow(Role.admin, Role.lead_partner, Role.city_official, why="propose cluster links (a city official: involving their city)"),
]
IdempotencyKey = Annotated[
    str | None, Header(max_length=200, description="Retry-safe creation: the same key replays the first answer")
]


@router.get("/partners", tags=["partners"])
async def list_partners(session: SessionDep, _: PrincipalDep, page: PageDep) -> Page[Partner]:
    return Page.of(list(await repository.list_partners(session, page)), page)


@router.get("/partners/{slug}", tags=["partners"])
async def get_partner(slug: str, session: SessionDep, _: PrincipalDep) -> Partner:
    if (partner := await repository.get_partner(session, slug)) is None:
        raise NotFound(f"partner {slug!r} does not exist")
    return partner


@router.post("/partners", tags=["partners"], status_code=201)
async def create_partner(data: PartnerCreate, session: SessionDep, _: Admin) -> Partner:
    return await service.create_partner(session, data)


@router.get("/clusters", tags=["clusters"])
async def list_clusters(session: SessionDep, _: PrincipalDep, page: PageDep, city: str | None = None) -> Page[Cluster]:
    return Page.of(list(await repository.list_clusters(session, page, city)), page)


@router.post("/clusters", tags=["clusters"], status_code=201)
async def create_cluster(data: ClusterCreate, session: SessionDep, _: Admin) -> Cluster:
    return await service.create_cluster(session, data)


@router.get("/seminars", tags=["seminars"])
async def list_seminars(
    session: SessionDep,
    _: PrincipalDep,
    page: PageDep,
    host_city: str | None = None,
    in_force: Annotated[bool, Query(description="only those with a recommendation issued or revised")] = False,
) -> Page[SeminarPublic]:
    """In the order they were held (the oldest first)."""
    rows = await repository.list_seminars(session, page, host_city, in_force)
    return Page.of([SeminarPublic.model_validate(r, from_attributes=True) for r in rows], page)


@router.post("/seminars", tags=["seminars"], status_code=201)
async def schedule_seminar(
    data: SeminarCreate, session: SessionDep, runtime: RuntimeDep, principal: LeadPartner, idempotency_key: IdempotencyKey = None
) -> SeminarPublic:
    return await service.schedule_seminar(session, runtime, data, principal.actor(), idempotency_key)


@router.get("/seminars/{seminar_id}", tags=["seminars"])
async def get_seminar(seminar_id: uuid.UUID, session: SessionDep, _: PrincipalDep) -> SeminarPublic:
    return SeminarPublic.model_validate(await service.seminar_or_404(session, seminar_id), from_attributes=True)


@router.post("/seminars/{seminar_id}/recommendations", tags=["recommendations"], status_code=201)
async def draft_recommendation(
    seminar_id: uuid.UUID,
    data: RecommendationDraft,
    session: SessionDep,
    principal: LeadPartner,
    idempotency_key: IdempotencyKey = None,
) -> RecommendationPublic:
    return await service.draft(session, seminar_id, data, principal.actor(), idempotency_key)


@router.post("/seminars/{seminar_id}/hold", tags=["seminars"])
async def hold_seminar(seminar_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, principal: LeadPartner) -> SeminarPublic:
    """The seminar took place: scheduled → held (409 from any other status)."""
    seminar = await service.hold(session, runtime, seminar_id, principal.actor())
    return SeminarPublic.model_validate(seminar, from_attributes=True)


@router.post("/seminars/{seminar_id}/publish-report", tags=["seminars"])
async def publish_report(
    seminar_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, principal: LeadPartner
) -> list[RecommendationPublic]:
    """Publish the seminar's report: issue all its drafts at once, in one transaction."""
    issued = await service.publish_report(session, runtime, seminar_id, principal.actor())
    return [RecommendationPublic.model_validate(r) for r in issued]


@router.get("/recommendations", tags=["recommendations"])
async def list_recommendations(
    session: SessionDep,
    _: PrincipalDep,
    page: PageDep,
    city: Annotated[str | None, Query(max_length=64)] = None,
    seminar: uuid.UUID | None = None,
    status: RecommendationStatus | None = None,
    dimension: Dimension | None = None,
) -> Page[RecommendationPublic]:
    rows = await repository.list_recommendations(session, page, city=city, seminar=seminar, status=status, dimension=dimension)
    return Page.of([RecommendationPublic.model_validate(r) for r in rows], page)


@router.get("/recommendations/{rec_id}", tags=["recommendations"])
async def get_recommendation(rec_id: uuid.UUID, session: SessionDep, _: PrincipalDep) -> RecommendationPublic:
    return RecommendationPublic.model_validate(await service.recommendation_or_404(session, rec_id))


@router.post("/recommendations/{rec_id}/issue", tags=["recommendations"])
async def issue(rec_id: uuid.UUID, runtime: RuntimeDep, principal: LeadPartner) -> RecommendationPublic:
    # no session: the issue runs its two statements on a connection of its own (service.issue)
    return await service.issue(runtime, rec_id, principal.actor())


@router.post("/recommendations/{rec_id}/revise", tags=["recommendations"])
async def revise(
    rec_id: uuid.UUID, change: RecommendationRevision, session: SessionDep, runtime: RuntimeDep, principal: LeadPartner
) -> RecommendationPublic:
    return RecommendationPublic.model_validate(await service.revise(session, runtime, rec_id, change, principal.actor()))


@router.post("/recommendations/{rec_id}/withdraw", tags=["recommendations"])
async def withdraw(
    rec_id: uuid.UUID, body: Withdrawal, session: SessionDep, runtime: RuntimeDep, principal: LeadPartner
) -> RecommendationPublic:
    return RecommendationPublic.model_validate(await service.withdraw(session, runtime, rec_id, body.reason, principal.actor()))


@router.get("/recommendations/{rec_id}/history", tags=["recommendations"])
async def history(rec_id: uuid.UUID, session: SessionDep, _: PrincipalDep) -> list[HistoryEntryPublic]:
    await service.recommendation_or_404(session, rec_id)
    return [HistoryEntryPublic.model_validate(h, from_attributes=True) for h in await repository.history(session, rec_id)]


@router.post("/cluster-links", tags=["cluster links"], status_code=201)
async def propose_link(
    data: ClusterLinkCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: LinkProposer,
    idempotency_key: IdempotencyKey = None,
) -> ClusterLinkState:
    """Propose a link between clusters of two or more partner cities (422 when they are all in one city).
    A city official may propose one that involves a cluster of their own city."""
    return await links.propose_link(session, runtime, data, principal, idempotency_key)


@router.get("/cluster-links", tags=["cluster links"])
async def list_links(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    city: Annotated[str | None, Query(max_length=64, description="Links involving a cluster of this city")] = None,
    cluster: Annotated[str | None, Query(max_length=64, description="Links involving this cluster")] = None,
    status: ClusterLinkStatus | None = None,
    kind: ClusterLinkKind | None = None,
    public: bool | None = None,
) -> Page[ClusterLinkState]:
    """The links the caller may read: a private link is private evidence (`links.may_read`)."""
    visible = links.Visible.to(principal, public)
    if visible is None:
        return Page.of([], page)
    rows = await repository.list_links(
        session, page, city=city, cluster=cluster, status=status, kind=kind, public=visible.public, private_of=visible.private_of
    )
    return Page.of(await links.states_of(session, list(rows)), page)


@router.get("/cluster-links/{link_id}", tags=["cluster links"])
async def get_link(link_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> ClusterLinkState:
    return await links.link_with_clusters(session, link_id, principal)


async def _transition(
    action: domain.LinkAction,
    link_id: uuid.UUID,
    change: ClusterLinkTransition | None,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Principal,
) -> ClusterLinkState:
    return await links.transition_link(session, runtime, link_id, action, change or ClusterLinkTransition(), principal.actor())


@router.post("/cluster-links/{link_id}/establish", tags=["cluster links"])
async def establish_link(
    link_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: LinkManager,
    change: ClusterLinkTransition | None = None,
) -> ClusterLinkState:
    """proposed → established (the partners agreed). 409 with the reason from any other status."""
    return await _transition(domain.LinkAction.establish, link_id, change, session, runtime, principal)


@router.post("/cluster-links/{link_id}/activate", tags=["cluster links"])
async def activate_link(
    link_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: LinkManager,
    change: ClusterLinkTransition | None = None,
) -> ClusterLinkState:
    """established → active; `on` (default today, or the planned starts_on) is the day it started."""
    return await _transition(domain.LinkAction.activate, link_id, change, session, runtime, principal)


@router.post("/cluster-links/{link_id}/end", tags=["cluster links"])
async def end_link(
    link_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: LinkManager,
    change: ClusterLinkTransition | None = None,
) -> ClusterLinkState:
    """active → ended; `on` (default today) is the day it ended; a staff exchange records what was `learned`."""
    return await _transition(domain.LinkAction.end, link_id, change, session, runtime, principal)


@router.post("/cluster-links/{link_id}/cancel", tags=["cluster links"])
async def cancel_link(
    link_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: LinkManager,
    change: ClusterLinkTransition | None = None,
) -> ClusterLinkState:
    """proposed or established → cancelled (an active link is ended instead)."""
    return await _transition(domain.LinkAction.cancel, link_id, change, session, runtime, principal)


@router.get("/network", tags=["cluster links"])
async def get_network(
    session: SessionDep,
    principal: PrincipalDep,
    public_only: Annotated[bool, Query(description="Only public links (for the public network page)")] = False,
) -> Network:
    """The network picture's data: every cluster (node, with its city and sector) and the links among
    them (edge: its clusters, kind, status, dates, public flag), the public ones only for an
    integration token. The portal lays it out and draws it."""
    return await links.network(session, public_only, principal)


# --- spreadsheets (docs/spreadsheets.md) -------------------------------------------------------
SheetFile = Annotated[UploadFile, File(description="The sheet: XLSX (Excel 2007+) or CSV (UTF-8), first row = column names")]
DryRun = Annotated[bool, Query(description="Only preview: answer what each row would create, and every error; write nothing")]


@router.get(
    "/templates/recommendations.xlsx",
    tags=["spreadsheets"],
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The import template, with one example row"}},
)
async def template_xlsx(_: PrincipalDep) -> Response:
    body = write_xlsx(importing.COLUMNS, [importing.EXAMPLE], title="recommendations")
    return Response(
        body, media_type=XLSX_MEDIA_TYPE, headers={"Content-Disposition": 'attachment; filename="recommendations.xlsx"'}
    )


@router.get(
    "/templates/recommendations.csv",
    tags=["spreadsheets"],
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The import template, with one example row"}},
)
async def template_csv(_: PrincipalDep) -> Response:
    body = write_csv(importing.COLUMNS, [importing.EXAMPLE])
    return Response(body, media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="recommendations.csv"'})


@router.post(
    "/seminars/{seminar_id}/recommendations/import",
    tags=["spreadsheets"],
    response_model=ImportPreview,
    responses={
        200: {"description": "The preview (dry_run) or the import done: every row's action, and the errors"},
        202: {"model": JobPublic, "description": f"More than {imports.IMPORT_JOB_ROWS} rows: a background job; poll its url"},
        **problem_responses(413, 422),
    },
)
async def import_recommendations(
    seminar_id: uuid.UUID,
    file: SheetFile,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: LeadPartner,
    dry_run: DryRun = False,
) -> Any:
    """Import a sheet of recommendations as drafts of the seminar: all rows in one transaction, or
    none (422 with every row's errors). Rows imported before create nothing new. `dry_run=true`
    answers the preview `{"rows": [...], "errors": [{"row", "column", "detail"}]}` and writes nothing."""
    data = await file.read()
    table = await asyncio.to_thread(read_table, data, file.filename)  # openpyxl is CPU work: off the event loop
    if not dry_run and len(table.rows) > imports.IMPORT_JOB_ROWS:
        job = await imports.queue_import(session, runtime, seminar_id, data, file.filename, len(table.rows), principal.actor())
        url = f"/import-jobs/{job.id}"
        return JSONResponse(JobPublic.of(job, url).model_dump(mode="json"), status_code=202, headers={"Location": url})
    return await imports.import_sheet(session, seminar_id, table, principal.actor(), dry_run=dry_run)


@router.get("/import-jobs/{job_id}", tags=["spreadsheets"])
async def import_job(job_id: uuid.UUID, session: SessionDep, _: LeadPartner) -> JobPublic:
    """A background import: its status, progress (rows done of total) and, when finished, its result."""
    return JobPublic.of(await job_or_404(session, ImportJob, job_id), f"/import-jobs/{job_id}")
