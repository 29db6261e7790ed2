"""`clusnet seed`: the demo data, written through the same service functions as the HTTP API,
so its events go through the outbox and reach the other services like any other."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from services.recommendations import service
from services.recommendations.config import Settings
from services.recommendations.demo_data import CLUSTERS, PARTNERS, SEMINARS
from services.recommendations.main import build_runtime
from services.recommendations.models import (
    Cluster,
    ClusterCreate,
    Partner,
    PartnerCreate,
    RecommendationDraft,
    Seminar,
    SeminarCreate,
)
from shared.contracts.common import Actor, Dimension

SEED_ACTOR = Actor(id="seed", role="lead_partner")


async def load_demo_data(settings: Settings | None = None) -> dict[str, int]:
    """Load what is missing (running it twice adds nothing); answer what was added."""
    runtime = build_runtime((settings or Settings()).model_copy(update={"run_workers": False}))
    await runtime.start()
    added = {"partners": 0, "clusters": 0, "seminars": 0, "recommendations issued": 0}
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
                if await _exists(session, seminar["host_city"], seminar["held_on"]):
                    continue
                data = SeminarCreate(
                    host_city=seminar["host_city"], theme=seminar["theme"], cluster=seminar["cluster"], held_on=seminar["held_on"]
                )
                created = await service.stage_seminar(session, runtime, data, SEED_ACTOR)
                held_on: date = seminar["held_on"]
                for dimension, title, text in seminar["recommendations"]:
                    draft = RecommendationDraft(
                        title=title, text=text, dimension=Dimension(dimension), due_date=held_on.replace(year=held_on.year + 1)
                    )
                    await service.stage_draft(session, created.id, draft, SEED_ACTOR)
                issued = await service.publish_report(session, runtime, created.id, SEED_ACTOR)  # commits the seminar
                added["seminars"] += 1
                added["recommendations issued"] += len(issued)
    finally:
        await runtime.stop()
    return added


async def _exists(session, host_city: str, held_on: date) -> bool:  # type: ignore[no-untyped-def]
    query = select(Seminar).where(Seminar.host_city == host_city, Seminar.held_on == held_on)
    return (await session.exec(query)).first() is not None
