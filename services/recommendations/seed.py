"""`clusnet seed`: the demo data, written through the same service functions as the HTTP API,
so its events go through the outbox and reach the other services like any other."""

from __future__ import annotations

from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from services.recommendations import domain, links, repository, service
from services.recommendations.config import Settings
from services.recommendations.demo_data import CLUSTERS, LINKS, PARTNERS, RELATED, SEMINARS, TAGS, DemoLink
from services.recommendations.main import build_runtime
from services.recommendations.models import (
    Cluster,
    ClusterCreate,
    ClusterLinkCreate,
    ClusterLinkTransition,
    Partner,
    PartnerCreate,
    RecommendationDraft,
    SeminarCreate,
    StaffExchangeFields,
)
from shared.contracts.common import Actor, Dimension
from shared.contracts.recommendations import ClusterLinkKind
from shared.platform.runtime import Runtime

SEED_ACTOR = Actor(id="seed", role="lead_partner")


async def load_demo_data(settings: Settings | None = None) -> dict[str, int]:
    """Load what is missing (running it twice adds nothing); answer what was added."""
    runtime = build_runtime((settings or Settings()).model_copy(update={"run_workers": False}))
    await runtime.start()
    added = {"partners": 0, "clusters": 0, "seminars": 0, "recommendations issued": 0, "cluster links": 0}
    try:
        async with runtime.sessions() as session:
            for slug, name, kind, country, lead in PARTNERS:
                if await session.get(Partner, slug) is None:
                    await service.create_partner(
                        session, PartnerCreate(slug=slug, name=name, kind=kind, country=country, is_lead=lead)
                    )
                    added["partners"] += 1
            for slug, name, sector, city in CLUSTERS:
                if await session.get(Cluster, slug) is None:
                    await service.create_cluster(session, ClusterCreate(slug=slug, name=name, sector=sector, city=city))
                    added["clusters"] += 1
            for seminar in SEMINARS:
                if await repository.seminar_held(session, seminar["host_city"], seminar["held_on"]):
                    continue
                data = SeminarCreate(
                    host_city=seminar["host_city"], theme=seminar["theme"], cluster=seminar["cluster"], held_on=seminar["held_on"]
                )
                created = await service.stage_seminar(session, runtime, data, SEED_ACTOR)
                held_on: date = seminar["held_on"]
                city = seminar["host_city"]
                for dimension, title, text in seminar["recommendations"]:
                    related = RELATED.get((city, title), [])
                    draft = RecommendationDraft(
                        title=title,
                        text=text,
                        dimension=Dimension(dimension),
                        due_date=held_on.replace(year=held_on.year + 1),
                        tags=TAGS.get((city, title), []),
                        related_ids=[await repository.recommendation_id_by_title(session, *other) for other in related],
                    )
                    await service.stage_draft(session, created.id, draft, SEED_ACTOR)
                issued = await service.publish_report(session, runtime, created.id, SEED_ACTOR)  # commits the seminar
                added["seminars"] += 1
                added["recommendations issued"] += len(issued)
            for link in LINKS:
                if await repository.link_described(session, link["description"]):
                    continue
                await _add_link(session, runtime, link)
                added["cluster links"] += 1
    finally:
        await runtime.stop()
    return added


# The transitions that bring a new (proposed) link to each status, with the day each happened.
PATH_TO = {
    "proposed": [],
    "established": [domain.LinkAction.establish],
    "active": [domain.LinkAction.establish, domain.LinkAction.activate],
    "ended": [domain.LinkAction.establish, domain.LinkAction.activate, domain.LinkAction.end],
}


async def _add_link(session: AsyncSession, runtime: Runtime, link: DemoLink) -> None:
    """Propose the link and walk it to its status, in one transaction (so its events too)."""
    answers = [await repository.recommendation_id_by_title(session, city, title) for city, title in link["answers"]]
    staff = link["staff_exchange"]
    data = ClusterLinkCreate(
        clusters=link["clusters"],
        kind=ClusterLinkKind(link["kind"]),
        description=link["description"],
        starts_on=link["starts_on"],
        ends_on=link["ends_on"],
        public=link["public"],
        recommendation_ids=answers,
        staff_exchange=StaffExchangeFields(person=staff["person"], home_city=staff["home_city"]) if staff else None,
    )
    state = await links.stage_link(session, runtime, data, SEED_ACTOR)
    for action in PATH_TO[link["status"]]:
        change = ClusterLinkTransition(
            on=link["starts_on"]
            if action == domain.LinkAction.activate
            else link["ends_on"]
            if action == domain.LinkAction.end
            else None,
            learned=staff["learned"] if staff and action == domain.LinkAction.end else None,
        )
        await links.stage_transition(session, runtime, state.id, action, change, SEED_ACTOR)
    await session.commit()
