"""Use cases of the recommendations service. Each is one transaction, committed here, once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.recommendations import domain, importing, repository
from services.recommendations.models import (
    Cluster,
    ClusterCreate,
    ClusterLink,
    ClusterLinkCreate,
    ClusterLinkMember,
    ClusterLinkTransition,
    IdempotencyRecord,
    ImportJob,
    ImportPreview,
    Network,
    NetworkEdge,
    NetworkNode,
    Partner,
    PartnerCreate,
    Recommendation,
    RecommendationDraft,
    RecommendationEvent,
    RecommendationPublic,
    RecommendationRevision,
    Seminar,
    SeminarCreate,
    SeminarPublic,
)
from shared.contracts.common import Actor
from shared.contracts.envelope import Event, Payload, source_of
from shared.contracts.recommendations import (
    ClusterLinkActivated,
    ClusterLinkCancelled,
    ClusterLinkEnded,
    ClusterLinkEstablished,
    ClusterLinkKind,
    ClusterLinkProposed,
    ClusterLinkState,
    LinkedCluster,
    RecommendationIssued,
    RecommendationRevised,
    RecommendationState,
    RecommendationWithdrawn,
    SeminarHeld,
    SeminarReportPublished,
    SeminarScheduled,
    SeminarState,
    SeminarStatus,
    StaffExchange,
)
from shared.platform.auth import Principal, Role
from shared.platform.db import SessionFactory
from shared.platform.errors import Conflict, Forbidden, Invalid, NotFound
from shared.platform.idempotency import run_once
from shared.platform.jobs import JobFields, JobHandler, Progress
from shared.platform.outbox import EventSink, commit
from shared.platform.sheets import Table, read_table

SOURCE = source_of("recommendations")
IMPORT_JOB = "recommendations.import"
IMPORT_JOB_ROWS = 500  # an import of more rows is a background job (the API answers 202 at once)
IMPORT_CHUNK = 500  # rows flushed (and progress reported) at a time


def seminar_state(seminar: Seminar) -> SeminarState:
    return SeminarState.model_validate(seminar, from_attributes=True)


def recommendation_state(rec: Recommendation, seminar: Seminar) -> RecommendationState:
    return RecommendationState(**RecommendationPublic.model_validate(rec).model_dump(), seminar=seminar_state(seminar))


def _emit(session: AsyncSession, sink: EventSink, payload: Payload, subject: uuid.UUID) -> None:
    sink.publish(session, Event.of(payload, source=SOURCE, subject=str(subject)))


def _record(session: AsyncSession, rec: Recommendation, action: str, actor: Actor, reason: str | None = None) -> None:
    snapshot = RecommendationPublic.model_validate(rec).model_dump(mode="json")
    session.add(
        RecommendationEvent(
            recommendation_id=rec.id,
            version=rec.version,
            action=action,
            reason=reason,
            actor_id=actor.id,
            actor_role=actor.role,
            snapshot=snapshot,
        )
    )


async def _city(session: AsyncSession, slug: str, what: str) -> Partner:
    partner = await repository.get_partner(session, slug)
    if partner is None or partner.kind != "city":
        raise Invalid(f"{what} {slug!r} is not a CLUSNET partner city")
    return partner


async def create_partner(session: AsyncSession, data: PartnerCreate) -> Partner:
    if await repository.get_partner(session, data.slug):
        raise Conflict(f"partner {data.slug!r} exists already")
    partner = Partner.model_validate(data)
    session.add(partner)
    await session.commit()
    return partner


async def create_cluster(session: AsyncSession, data: ClusterCreate) -> Cluster:
    await _city(session, data.city, "city")
    if await repository.get_cluster(session, data.slug):
        raise Conflict(f"cluster {data.slug!r} exists already")
    cluster = Cluster.model_validate(data)
    session.add(cluster)
    await session.commit()
    return cluster


async def schedule_seminar(
    session: AsyncSession, sink: EventSink, data: SeminarCreate, actor: Actor, idempotency_key: str | None = None
) -> SeminarPublic:
    async def create() -> dict[str, Any]:
        return SeminarPublic.model_validate(await stage_seminar(session, sink, data, actor)).model_dump(mode="json")

    request = data.model_dump(mode="json")
    body = await run_once(session, IdempotencyRecord, actor_id=actor.id, key=idempotency_key, request=request, create=create)
    await commit(session, sink)
    return SeminarPublic.model_validate(body)


async def draft(
    session: AsyncSession,
    sink: EventSink,
    seminar_id: uuid.UUID,
    data: RecommendationDraft,
    actor: Actor,
    idempotency_key: str | None = None,
) -> RecommendationPublic:
    async def create() -> dict[str, Any]:
        rec = await stage_draft(session, seminar_id, data, actor)
        return RecommendationPublic.model_validate(rec).model_dump(mode="json")

    request = {"seminar": str(seminar_id), **data.model_dump(mode="json")}
    body = await run_once(session, IdempotencyRecord, actor_id=actor.id, key=idempotency_key, request=request, create=create)
    await commit(session, sink)
    return RecommendationPublic.model_validate(body)


async def stage_seminar(session: AsyncSession, sink: EventSink, data: SeminarCreate, actor: Actor) -> Seminar:
    """Schedule a seminar in the open transaction (for idempotent requests and the seed)."""
    await _city(session, data.host_city, "host_city")
    if await repository.get_cluster(session, data.cluster) is None:
        raise Invalid(f"cluster {data.cluster!r} does not exist (see GET /clusters)")
    seminar = Seminar(host_city=data.host_city, theme=data.theme, cluster=data.cluster, held_on=data.held_on)
    session.add(seminar)
    await session.flush()
    _emit(session, sink, SeminarScheduled(seminar=seminar_state(seminar), actor=actor), seminar.id)
    return seminar


async def seminar_or_404(session: AsyncSession, seminar_id: uuid.UUID, *, for_update: bool = False) -> Seminar:
    seminar = await repository.get_seminar(session, seminar_id, for_update=for_update)
    if seminar is None:
        raise NotFound(f"seminar {seminar_id} does not exist")
    return seminar


async def recommendation_or_404(session: AsyncSession, rec_id: uuid.UUID, *, for_update: bool = False) -> Recommendation:
    rec = await repository.get_recommendation(session, rec_id, for_update=for_update)
    if rec is None:
        raise NotFound(f"recommendation {rec_id} does not exist")
    return rec


async def stage_draft(session: AsyncSession, seminar_id: uuid.UUID, draft: RecommendationDraft, actor: Actor) -> Recommendation:
    """Add a draft in the open transaction; drafts emit no event (nothing is issued yet)."""
    seminar = await seminar_or_404(session, seminar_id)
    target = draft.target_city or seminar.host_city
    await _city(session, target, "target_city")
    domain.check_due_date(draft.due_date, seminar.held_on)
    missing = set(draft.related_ids) - await repository.existing_ids(session, draft.related_ids)
    if missing:
        raise Invalid(f"related_ids name recommendations that do not exist: {', '.join(sorted(map(str, missing)))}")
    rec = Recommendation.model_validate({**draft.model_dump(), "seminar_id": seminar.id, "target_city": target})
    session.add(rec)
    await session.flush()
    _record(session, rec, "drafted", actor)
    return rec


async def issue(session: AsyncSession, sink: EventSink, rec_id: uuid.UUID, actor: Actor) -> Recommendation:
    rec = await recommendation_or_404(session, rec_id, for_update=True)
    await _issue(session, sink, rec, await seminar_or_404(session, rec.seminar_id), actor)
    await commit(session, sink)
    return rec


async def _issue(session: AsyncSession, sink: EventSink, rec: Recommendation, seminar: Seminar, actor: Actor) -> None:
    rec.status = domain.next_status(rec.status, domain.Action.issue)
    rec.updated_at = datetime.now(UTC)
    _record(session, rec, "issued", actor)
    _emit(session, sink, RecommendationIssued(recommendation=recommendation_state(rec, seminar), actor=actor), rec.id)


async def revise(
    session: AsyncSession, sink: EventSink, rec_id: uuid.UUID, change: RecommendationRevision, actor: Actor
) -> Recommendation:
    rec = await recommendation_or_404(session, rec_id, for_update=True)
    seminar = await seminar_or_404(session, rec.seminar_id)
    rec.status = domain.next_status(rec.status, domain.Action.revise)
    updates = change.model_dump(exclude_unset=True, exclude={"reason"})
    if not updates:
        raise Invalid("a revision must change at least one field (title, text, dimension, rationale, priority, due_date, tags)")
    domain.check_due_date(updates.get("due_date"), seminar.held_on)
    for name, value in updates.items():
        if value is None and name in ("title", "text", "dimension", "priority", "tags"):
            raise Invalid(f"{name} cannot be emptied in a revision")
        setattr(rec, name, value)
    rec.version += 1
    rec.status_reason = change.reason
    rec.updated_at = datetime.now(UTC)
    _record(session, rec, "revised", actor, change.reason)
    state = recommendation_state(rec, seminar)
    _emit(session, sink, RecommendationRevised(recommendation=state, reason=change.reason, actor=actor), rec.id)
    await commit(session, sink)
    return rec


async def withdraw(session: AsyncSession, sink: EventSink, rec_id: uuid.UUID, reason: str, actor: Actor) -> Recommendation:
    rec = await recommendation_or_404(session, rec_id, for_update=True)
    seminar = await seminar_or_404(session, rec.seminar_id)
    was_draft = rec.status == "draft"
    rec.status = domain.next_status(rec.status, domain.Action.withdraw)
    rec.status_reason = reason
    rec.updated_at = datetime.now(UTC)
    _record(session, rec, "withdrawn", actor, reason)
    if not was_draft:  # nobody outside ever saw a draft: its withdrawal concerns no consumer
        _emit(
            session,
            sink,
            RecommendationWithdrawn(recommendation=recommendation_state(rec, seminar), reason=reason, actor=actor),
            rec.id,
        )
    await commit(session, sink)
    return rec


async def hold(session: AsyncSession, sink: EventSink, seminar_id: uuid.UUID, actor: Actor) -> Seminar:
    """The seminar took place (scheduled → held)."""
    seminar = await seminar_or_404(session, seminar_id, for_update=True)
    domain.holdable(seminar.status)
    seminar.status = SeminarStatus.held
    _emit(session, sink, SeminarHeld(seminar=seminar_state(seminar), actor=actor), seminar.id)
    await commit(session, sink)
    return seminar


async def publish_report(session: AsyncSession, sink: EventSink, seminar_id: uuid.UUID, actor: Actor) -> list[Recommendation]:
    """Publish the seminar report: every draft of the seminar is issued, all in one transaction."""
    seminar = await seminar_or_404(session, seminar_id, for_update=True)
    domain.report_publishable(seminar.status)
    drafts = list(await repository.drafts_of(session, seminar.id))
    seminar.status = SeminarStatus.report_published
    for rec in drafts:
        await _issue(session, sink, rec, seminar, actor)
    payload = SeminarReportPublished(seminar=seminar_state(seminar), recommendation_ids=[r.id for r in drafts], actor=actor)
    _emit(session, sink, payload, seminar.id)
    await commit(session, sink)
    return drafts


# --- inter-cluster links ----------------------------------------------------------------------
LINK_EVENTS: dict[
    domain.LinkAction, type[ClusterLinkEstablished | ClusterLinkActivated | ClusterLinkEnded | ClusterLinkCancelled]
] = {
    domain.LinkAction.establish: ClusterLinkEstablished,
    domain.LinkAction.activate: ClusterLinkActivated,
    domain.LinkAction.end: ClusterLinkEnded,
    domain.LinkAction.cancel: ClusterLinkCancelled,
}


def link_state(link: ClusterLink, clusters: list[Cluster]) -> ClusterLinkState:
    staff = (
        StaffExchange(person=link.staff_person, home_city=link.staff_home_city, learned=link.staff_learned)
        if link.staff_person and link.staff_home_city
        else None
    )
    return ClusterLinkState(
        id=link.id,
        version=link.version,
        status=link.status,
        kind=link.kind,
        description=link.description,
        clusters=[LinkedCluster(slug=c.slug, name=c.name, sector=c.sector, city=c.city) for c in clusters],
        cities=list(dict.fromkeys(c.city for c in clusters)),
        starts_on=link.starts_on,
        ends_on=link.ends_on,
        recommendation_ids=[uuid.UUID(r) for r in link.recommendation_ids],
        public=link.public,
        staff_exchange=staff,
        status_reason=link.status_reason,
        updated_at=link.updated_at,
    )


async def link_or_404(session: AsyncSession, link_id: uuid.UUID, *, for_update: bool = False) -> ClusterLink:
    link = await repository.get_link(session, link_id, for_update=for_update)
    if link is None:
        raise NotFound(f"cluster link {link_id} does not exist")
    return link


async def link_with_clusters(session: AsyncSession, link_id: uuid.UUID) -> ClusterLinkState:
    link = await link_or_404(session, link_id)
    return link_state(link, (await repository.link_clusters(session, [link.id]))[link.id])


async def states_of(session: AsyncSession, links: list[ClusterLink]) -> list[ClusterLinkState]:
    clusters = await repository.link_clusters(session, [link.id for link in links])
    return [link_state(link, clusters[link.id]) for link in links]


async def propose_link(
    session: AsyncSession, sink: EventSink, data: ClusterLinkCreate, principal: Principal, idempotency_key: str | None = None
) -> ClusterLinkState:
    async def create() -> dict[str, Any]:
        return (await stage_link(session, sink, data, principal.actor())).model_dump(mode="json")

    body = await run_once(
        session,
        IdempotencyRecord,
        actor_id=principal.token_id,
        key=idempotency_key,
        request={"cluster_link": data.model_dump(mode="json")},
        create=create,
    )
    await commit(session, sink)
    return ClusterLinkState.model_validate(body)


async def stage_link(session: AsyncSession, sink: EventSink, data: ClusterLinkCreate, actor: Actor) -> ClusterLinkState:
    """Propose a link in the open transaction (for idempotent requests and the seed)."""
    found = await repository.clusters_by_slug(session, data.clusters)
    if unknown := [slug for slug in data.clusters if slug not in found]:
        raise Invalid(f"unknown cluster(s) {', '.join(unknown)} (see GET /clusters)")
    clusters = [found[slug] for slug in data.clusters]
    domain.check_link_clusters([(c.slug, c.city) for c in clusters])
    cities = list(dict.fromkeys(c.city for c in clusters))
    if actor.role == Role.city_official and actor.city not in cities:
        raise Forbidden(f"a city official of {actor.city} may only propose links involving a cluster of {actor.city}")
    domain.check_link_dates(data.starts_on, data.ends_on)
    staff = data.staff_exchange
    domain.check_staff_exchange(data.kind, staff.home_city if staff else None, cities)
    targets = await repository.recommendation_targets(session, data.recommendation_ids)
    if missing := [str(r) for r in data.recommendation_ids if r not in targets]:
        raise Invalid(f"recommendation_ids name recommendations that do not exist: {', '.join(missing)}")
    domain.check_answers(targets, cities)
    link = ClusterLink(
        kind=data.kind,
        description=data.description,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        public=data.public,
        recommendation_ids=list(dict.fromkeys(str(r) for r in data.recommendation_ids)),
        staff_person=staff.person if staff else None,
        staff_home_city=staff.home_city if staff else None,
        staff_learned=staff.learned if staff else None,
        created_by=actor.id,
    )
    session.add(link)
    await session.flush()
    for position, cluster in enumerate(clusters):
        session.add(ClusterLinkMember(link_id=link.id, cluster=cluster.slug, position=position))
    state = link_state(link, clusters)
    _emit(session, sink, ClusterLinkProposed(link=state, actor=actor), link.id)
    return state


async def transition_link(
    session: AsyncSession,
    sink: EventSink,
    link_id: uuid.UUID,
    action: domain.LinkAction,
    change: ClusterLinkTransition,
    actor: Actor,
) -> ClusterLinkState:
    state = await stage_transition(session, sink, link_id, action, change, actor)
    await commit(session, sink)
    return state


async def stage_transition(
    session: AsyncSession,
    sink: EventSink,
    link_id: uuid.UUID,
    action: domain.LinkAction,
    change: ClusterLinkTransition,
    actor: Actor,
) -> ClusterLinkState:
    link = await link_or_404(session, link_id, for_update=True)
    link.status = domain.next_link_status(link.status, action)
    if action == domain.LinkAction.activate:
        link.starts_on = change.on or link.starts_on or datetime.now(UTC).date()
    elif change.on is not None and action != domain.LinkAction.end:
        raise Invalid(f"`on` is the day a link started (activate) or ended (end), not the day of {action.value}")
    if action == domain.LinkAction.end:
        link.ends_on = change.on or datetime.now(UTC).date()
    domain.check_link_dates(link.starts_on, link.ends_on)
    if change.learned is not None:
        if action != domain.LinkAction.end or link.kind != ClusterLinkKind.staff_exchange:
            raise Invalid("`learned` is recorded when a staff exchange ends")
        link.staff_learned = change.learned
    link.status_reason = change.reason
    link.version += 1
    link.updated_at = datetime.now(UTC)
    state = link_state(link, (await repository.link_clusters(session, [link.id]))[link.id])
    _emit(session, sink, LINK_EVENTS[action](link=state, actor=actor), link.id)
    return state


async def network(session: AsyncSession, public_only: bool) -> Network:
    """Every cluster, and the links among them (only the public ones when asked)."""
    clusters = await repository.all_clusters(session)
    links = list(await repository.list_links(session, None, public=True if public_only else None))
    members = await repository.link_clusters(session, [link.id for link in links])
    return Network(
        nodes=[NetworkNode(slug=c.slug, name=c.name, sector=c.sector, city=c.city) for c in clusters],
        edges=[
            NetworkEdge(
                id=link.id,
                clusters=[c.slug for c in members[link.id]],
                kind=link.kind,
                status=link.status,
                starts_on=link.starts_on,
                ends_on=link.ends_on,
                public=link.public,
                description=link.description,
            )
            for link in links
        ],
    )


# --- spreadsheet import (services/recommendations/importing.py holds the rules) ---------------
async def import_sheet(
    session: AsyncSession,
    sink: EventSink,
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
    errors = [{"row": e.row, "column": e.column, "detail": e.detail} for e in sorted(parsed.errors, key=lambda e: e.row)]
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
    await commit(session, sink)
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
    await commit(session, sink)  # wakes the job runner too (Runtime.on_commit)
    return job


def import_job_handler(sessions: SessionFactory, sink: EventSink) -> JobHandler:
    async def run(job: JobFields, progress: Progress) -> dict[str, Any]:
        table = read_table(job.file, job.params.get("filename"))
        async with sessions() as session:
            preview = await import_sheet(
                session,
                sink,
                uuid.UUID(job.params["seminar_id"]),
                table,
                Actor.model_validate(job.params["actor"]),
                dry_run=False,
                progress=progress,
            )
        return {"created": preview.created, "unchanged": preview.unchanged, "errors": preview.errors}

    return run
