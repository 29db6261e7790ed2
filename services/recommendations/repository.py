"""Queries of the recommendations service. No commits here: the service layer commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, String, bindparam, insert, literal_column, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from services.recommendations.models import (
    Cluster,
    ClusterLink,
    ClusterLinkMember,
    Outbox,
    Partner,
    Recommendation,
    RecommendationEvent,
    Seminar,
)
from shared.contracts.common import Dimension
from shared.contracts.recommendations import ClusterLinkKind, ClusterLinkStatus, RecommendationStatus
from shared.platform.pagination import PageParams


async def get_partner(session: AsyncSession, slug: str) -> Partner | None:
    return await session.get(Partner, slug)


async def list_partners(session: AsyncSession, page: PageParams) -> Sequence[Partner]:
    return (await session.exec(select(Partner).order_by(Partner.slug).offset(page.offset).limit(page.limit + 1))).all()


async def get_cluster(session: AsyncSession, slug: str) -> Cluster | None:
    return await session.get(Cluster, slug)


async def list_clusters(session: AsyncSession, page: PageParams, city: str | None) -> Sequence[Cluster]:
    query = select(Cluster).order_by(Cluster.slug)
    if city:
        query = query.where(Cluster.city == city)
    return (await session.exec(query.offset(page.offset).limit(page.limit + 1))).all()


async def get_seminar(session: AsyncSession, seminar_id: uuid.UUID, *, for_update: bool = False) -> Seminar | None:
    return await session.get(Seminar, seminar_id, with_for_update=for_update)


async def list_seminars(
    session: AsyncSession, page: PageParams, host_city: str | None, in_force: bool = False
) -> Sequence[Seminar]:
    query = select(Seminar).order_by(col(Seminar.held_on), col(Seminar.id))
    if host_city:
        query = query.where(Seminar.host_city == host_city)
    if in_force:  # a recommendation issued or revised, by its report or one by one, whatever the seminar's status
        issued = col(Recommendation.status).in_((RecommendationStatus.issued, RecommendationStatus.revised))
        query = query.where(select(Recommendation.id).where(Recommendation.seminar_id == Seminar.id, issued).exists())
    return (await session.exec(query.offset(page.offset).limit(page.limit + 1))).all()


async def get_recommendation(session: AsyncSession, rec_id: uuid.UUID, *, for_update: bool = False) -> Recommendation | None:
    # for_update: the row lock orders this aggregate's outbox rows (see shared/outbox.py).
    return await session.get(Recommendation, rec_id, with_for_update=for_update)


RECOMMENDATION = Recommendation.__table__  # type: ignore[attr-defined]
SEMINAR = Seminar.__table__  # type: ignore[attr-defined]
HISTORY = RecommendationEvent.__table__  # type: ignore[attr-defined]


def _param(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


# The issue path's two statements, built once: SQLAlchemy then finds their compiled form by the
# statement's memoized cache key instead of rebuilding and hashing the statement per request.
# PostgreSQL's xmin (the transaction that wrote the row's current version) as the row's version:
# any change to the row, by any code path, gives it another.
ROW_VERSION = literal_column("recommendation.xmin::text", String)
_READ_WITH_SEMINAR = (
    core_select(RECOMMENDATION, ROW_VERSION.label("row_version"), *(c.label(f"seminar__{c.name}") for c in SEMINAR.c))
    .join_from(RECOMMENDATION, SEMINAR, RECOMMENDATION.c.seminar_id == SEMINAR.c.id)
    .where(RECOMMENDATION.c.id == _param("rec_id", RECOMMENDATION.c.id))
)
_CHANGED = (
    update(RECOMMENDATION)
    .where(RECOMMENDATION.c.id == _param("rec_id", RECOMMENDATION.c.id), ROW_VERSION == bindparam("row_version", type_=String))
    .values(
        status=_param("new_status", RECOMMENDATION.c.status), updated_at=_param("new_updated_at", RECOMMENDATION.c.updated_at)
    )
    .returning(RECOMMENDATION.c.id)
    .cte("changed")
)
HISTORY_COLUMNS = ["recommendation_id", "version", "action", "actor_id", "actor_role", "snapshot", "at"]
OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
OUTBOX_COLUMNS = [c.name for c in OUTBOX.c if c.name != "id"]  # the id comes from its sequence
_ISSUE = (
    insert(OUTBOX)
    .from_select(
        OUTBOX_COLUMNS, core_select(*(_param(f"o_{name}", OUTBOX.c[name]) for name in OUTBOX_COLUMNS)).select_from(_CHANGED)
    )
    .add_cte(
        insert(HISTORY)
        .from_select(
            HISTORY_COLUMNS,
            core_select(_CHANGED.c.id, *(_param(f"h_{name}", HISTORY.c[name]) for name in HISTORY_COLUMNS[1:])),
        )
        .cte("entry")
    )
    .returning(OUTBOX.c.id)
)


async def read_with_seminar(connection: AsyncConnection, rec_id: uuid.UUID) -> Row[Any] | None:
    """The recommendation's row with its `row_version` (see `issue_if_unchanged`) and its seminar's
    columns as `seminar__<name>`: one round trip, plain rows (Core), no ORM objects, no lock."""
    return (await connection.execute(_READ_WITH_SEMINAR, {"rec_id": rec_id})).one_or_none()


async def issue_if_unchanged(
    connection: AsyncConnection,
    rec_id: uuid.UUID,
    row_version: str,
    status: RecommendationStatus,
    updated_at: datetime,
    entry: dict[str, Any],
    outbox_row: dict[str, Any],
) -> bool:
    """If the recommendation's row is still at `row_version` (as `read_with_seminar` read it): set
    its status, add its history `entry` (version, action, actor_id, actor_role, snapshot, at) and
    its event's outbox row (`outbox.row_values`), all in ONE statement, its own transaction on an
    `autocommit_connection` (shared/platform/db.py): one round trip. The update and the history
    insert are data-modifying CTEs of the outbox insert, which take their row from the update's.
    Answers False, having written nothing, when the row
    changed meanwhile. Order per aggregate holds without a SELECT … FOR UPDATE: the update locks
    the row until the statement commits, and the outbox id is drawn after that lock (its insert
    reads the update's row), so a later event of this recommendation gets a higher id and commits
    later. The outbox's statement trigger (the relay's wake, at commit) fires for an insert in a
    CTE as for any other."""
    params = {
        "rec_id": rec_id,
        "row_version": row_version,
        "new_status": status,
        "new_updated_at": updated_at,
        **{f"h_{k}": v for k, v in entry.items()},
        **{f"o_{k}": v for k, v in outbox_row.items()},
    }
    return (await connection.execute(_ISSUE, params)).first() is not None


async def existing_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    return set((await session.exec(select(Recommendation.id).where(col(Recommendation.id).in_(ids)))).all())


async def drafts_of(session: AsyncSession, seminar_id: uuid.UUID) -> Sequence[Recommendation]:
    query = (
        select(Recommendation)
        .where(Recommendation.seminar_id == seminar_id, Recommendation.status == RecommendationStatus.draft)
        .order_by(col(Recommendation.created_at))
        .with_for_update()
    )
    return (await session.exec(query)).all()


async def list_recommendations(
    session: AsyncSession,
    page: PageParams,
    *,
    city: str | None = None,
    seminar: uuid.UUID | None = None,
    status: RecommendationStatus | None = None,
    dimension: Dimension | None = None,
) -> Sequence[Recommendation]:
    query = select(Recommendation).order_by(col(Recommendation.created_at), col(Recommendation.id))
    if city:
        query = query.where(Recommendation.target_city == city)
    if seminar:
        query = query.where(Recommendation.seminar_id == seminar)
    if status:
        query = query.where(Recommendation.status == status)
    if dimension:
        query = query.where(Recommendation.dimension == dimension)
    return (await session.exec(query.offset(page.offset).limit(page.limit + 1))).all()


async def history(session: AsyncSession, rec_id: uuid.UUID) -> Sequence[RecommendationEvent]:
    query = (
        select(RecommendationEvent).where(RecommendationEvent.recommendation_id == rec_id).order_by(col(RecommendationEvent.id))
    )
    return (await session.exec(query)).all()


async def clusters_by_slug(session: AsyncSession, slugs: Sequence[str]) -> dict[str, Cluster]:
    if not slugs:
        return {}
    return {c.slug: c for c in (await session.exec(select(Cluster).where(col(Cluster.slug).in_(slugs)))).all()}


async def all_clusters(session: AsyncSession) -> Sequence[Cluster]:
    return (await session.exec(select(Cluster).order_by(Cluster.city, Cluster.slug))).all()


async def recommendation_targets(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The city each of these recommendations is addressed to (unknown ids are absent)."""
    if not ids:
        return {}
    query = select(Recommendation.id, Recommendation.target_city).where(col(Recommendation.id).in_(ids))
    return dict((await session.exec(query)).all())


async def get_link(session: AsyncSession, link_id: uuid.UUID, *, for_update: bool = False) -> ClusterLink | None:
    # for_update: the row lock orders this link's outbox rows, as for recommendations.
    return await session.get(ClusterLink, link_id, with_for_update=for_update)


async def link_clusters(session: AsyncSession, link_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Cluster]]:
    """Each link's clusters, in the order they were named."""
    if not link_ids:
        return {}
    query = (
        select(ClusterLinkMember.link_id, Cluster)
        .join(Cluster, col(Cluster.slug) == ClusterLinkMember.cluster)
        .where(col(ClusterLinkMember.link_id).in_(link_ids))
        .order_by(col(ClusterLinkMember.link_id), col(ClusterLinkMember.position))
    )
    found: dict[uuid.UUID, list[Cluster]] = {link_id: [] for link_id in link_ids}
    for link_id, cluster in (await session.exec(query)).all():
        found[link_id].append(cluster)
    return found


async def list_links(
    session: AsyncSession,
    page: PageParams | None,
    *,
    city: str | None = None,
    cluster: str | None = None,
    status: ClusterLinkStatus | None = None,
    kind: ClusterLinkKind | None = None,
    public: bool | None = None,
    private_of: str | None = None,
) -> Sequence[ClusterLink]:
    """The links matching the filters; with `private_of`, the private ones only among the links
    of that city (a city official's reading)."""
    query = select(ClusterLink).order_by(col(ClusterLink.created_at), col(ClusterLink.id))
    if city or cluster:
        members = _members()
        if city:
            members = members.where(col(Cluster.city) == city)
        if cluster:
            members = members.where(col(ClusterLinkMember.cluster) == cluster)
        query = query.where(col(ClusterLink.id).in_(members))
    if private_of:
        of_the_city = _members().where(col(Cluster.city) == private_of)
        query = query.where(or_(col(ClusterLink.public), col(ClusterLink.id).in_(of_the_city)))
    if status:
        query = query.where(ClusterLink.status == status)
    if kind:
        query = query.where(ClusterLink.kind == kind)
    if public is not None:
        query = query.where(ClusterLink.public == public)
    if page is not None:
        query = query.offset(page.offset).limit(page.limit + 1)
    return (await session.exec(query)).all()


def _members() -> SelectOfScalar[uuid.UUID]:
    """The ids of links by their clusters (filtered by the caller)."""
    return select(col(ClusterLinkMember.link_id)).join(Cluster, col(Cluster.slug) == ClusterLinkMember.cluster)


async def city_slugs(session: AsyncSession) -> set[str]:
    return set((await session.exec(select(Partner.slug).where(Partner.kind == "city"))).all())


async def import_keys(session: AsyncSession, seminar_id: uuid.UUID) -> set[str]:
    """The import keys of the seminar's recommendations (what earlier imports created)."""
    query = select(Recommendation.import_key).where(
        Recommendation.seminar_id == seminar_id, col(Recommendation.import_key).is_not(None)
    )
    return {k for k in (await session.exec(query)).all() if k}


async def seminar_held(session: AsyncSession, host_city: str, held_on: date) -> Seminar | None:
    """The seminar `host_city` hosted on `held_on` (a city hosts one seminar a day at most)."""
    return (await session.exec(select(Seminar).where(Seminar.host_city == host_city, Seminar.held_on == held_on))).first()


async def recommendation_id_by_title(session: AsyncSession, city: str, title: str) -> uuid.UUID:
    """The id of the recommendation titled `title` given to `city` (the seed's references)."""
    query = select(Recommendation.id).where(Recommendation.target_city == city, Recommendation.title == title)
    return (await session.exec(query)).one()


async def link_described(session: AsyncSession, description: str) -> ClusterLink | None:
    return (await session.exec(select(ClusterLink).where(ClusterLink.description == description))).first()
