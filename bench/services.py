"""The services as the benchmarks start them: scale, process logs, drafts to issue, tokens, and
one service's API process on a topic prefix of its own."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from sqlmodel import select

from provision.processes import ServiceProcess, service_env, start_service, wait_ready
from provision.system import free_port
from services.notifications.config import Settings as NotificationsSettings
from services.notifications.main import create_app as notifications_app
from services.recommendations import service as rec_service
from services.recommendations.config import Settings as RecommendationsSettings
from services.recommendations.main import build_runtime
from services.recommendations.models import RecommendationDraft, Seminar
from services.recommendations.seed import SEED_ACTOR, load_demo_data
from shared.contracts.common import Dimension
from shared.platform import auth
from shared.platform.db import make_engine, make_session_factory, with_database
from shared.platform.process import tune_garbage_collector
from shared.platform.runtime import Runtime

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
LOGS = Path(tempfile.mkdtemp(prefix="clusnet-bench-"))
# Row 4's workers run below the APIs' CPU priority (`clusnet worker --nice`), as docs/scaling.md
# advises on a shared host: at equal priority an API starved by six busy processes on two cores
# answered even its refusals seconds late. BENCH_WORKER_NICE=0 measures without it.
WORKER_NICE = int(os.environ.get("BENCH_WORKER_NICE", "10"))


def n(count: int) -> int:
    return max(10, int(count * SCALE))


async def token(auth_url: str, role: auth.Role) -> str:
    engine = make_engine(auth_url, pool_size=1)
    async with make_session_factory(engine)() as session:
        text = (await auth.create_token(session, role))[1]
    await engine.dispose()
    return text


async def drafts(settings: RecommendationsSettings, count: int) -> list[str]:
    """`count` draft recommendations, ready to be issued (written through the service code)."""
    await load_demo_data(settings)
    runtime = build_runtime(settings.model_copy(update={"run_workers": False}))
    await runtime.start()
    ids = []
    async with runtime.sessions() as session:
        seminar = (await session.exec(select(Seminar))).first()
        assert seminar is not None
        for i in range(count):
            draft = RecommendationDraft(title=f"bench {i}", text="A recommendation to issue.", dimension=Dimension.processes)
            ids.append(str((await rec_service.stage_draft(session, seminar.id, draft, SEED_ACTOR)).id))
        await session.commit()
    await runtime.stop()
    return ids


def start(name: str, kafka: str, pg: str, prefix: str, **env: str) -> ServiceProcess:
    svc = start_service(
        name, free_port(), service_env(name, kafka, pg, prefix, TOPIC_PREFIX=prefix, LOG_LEVEL="WARNING", **env), LOGS
    )
    wait_ready([svc])
    return svc


async def notifications_runtime(
    kafka: str, pg: str, prefix: str, database: str, **overrides: Any
) -> tuple[NotificationsSettings, Runtime]:
    """The notifications service's runtime on `database`, started without its workers, and the
    garbage collector tuned as `clusnet worker` tunes it once the application is built."""
    settings = NotificationsSettings(
        database_url=with_database(pg, database),
        auth_database_url=with_database(pg, f"{prefix}_auth"),
        kafka_bootstrap_servers=kafka,
        topic_prefix=prefix,
        run_workers=False,
        **overrides,
    )
    runtime = notifications_app(settings).state.runtime
    tune_garbage_collector(worker=True)
    await runtime.start()
    return settings, runtime
