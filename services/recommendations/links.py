"""Use cases of inter-cluster links (the rules are in domain.py): propose, move through their
lifecycle, read, and the network picture's data. Each is one transaction, committed once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.recommendations import domain, repository
from services.recommendations.models import (
    Cluster,
    ClusterLink,
    ClusterLinkCreate,
    ClusterLinkMember,
    ClusterLinkTransition,
    IdempotencyRecord,
    Network,
    NetworkEdge,
    NetworkNode,
)
from services.recommendations.service import _emit
from shared.contracts.common import Actor
from shared.contracts.recommendations import (
    ClusterLinkActivated,
    ClusterLinkCancelled,
    ClusterLinkEnded,
    ClusterLinkEstablished,
    ClusterLinkKind,
    ClusterLinkProposed,
    ClusterLinkState,
    LinkedCluster,
    StaffExchange,
)
from shared.platform.auth import Principal, Role
from shared.platform.errors import Forbidden, Invalid, NotFound
from shared.platform.idempotency import run_once
from shared.platform.outbox import EventSink

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


async def link_with_clusters(session: AsyncSession, link_id: uuid.UUID, reader: Principal) -> ClusterLinkState:
    link = await link_or_404(session, link_id)
    state = link_state(link, (await repository.link_clusters(session, [link.id]))[link.id])
    if not may_read(reader, state.public, state.cities):  # as if absent, like private evidence
        raise NotFound(f"cluster link {link_id} does not exist")
    return state


def may_read(reader: Principal, public: bool, cities: Sequence[str]) -> bool:
    """A private link answers recommendations: it is private evidence, for those who see private
    evidence (`Principal.sees_private_evidence`), and for a city official only when it is one of
    their city's (another city's private evidence never leaves that city's own view)."""
    own = reader.city_scope()
    return public or (reader.sees_private_evidence() and (own is None or own in cities))


@dataclass(frozen=True)
class Visible:
    """The filters a reader's query of links runs with (`may_read`, in SQL): `public` False/True
    only, None both; `private_of` a city official's city, whose private links only they read."""

    public: bool | None
    private_of: str | None = None

    @classmethod
    def to(cls, reader: Principal, public: bool | None = None) -> Visible | None:
        """What `reader`, asking for `public`, may be shown; None: nothing (an integration asking
        for the private links)."""
        if reader.sees_private_evidence():
            return cls(public, reader.city_scope())
        return None if public is False else cls(True)


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
    await session.commit()
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
    await session.commit()
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


async def network(session: AsyncSession, public_only: bool, reader: Principal) -> Network:
    """Every cluster, and the links among them the reader may read (only the public ones when asked)."""
    clusters = await repository.all_clusters(session)
    visible = Visible.to(reader, True if public_only else None)
    assert visible is not None  # asked for public links or for all: something is visible
    links = list(await repository.list_links(session, None, public=visible.public, private_of=visible.private_of))
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
