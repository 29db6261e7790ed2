"""`clusnet seed-stakeholders` (as `docker compose up` runs it before `clusnet seed`): the demo
stakeholders and their subscriptions, written through the service, once however often it runs."""

from __future__ import annotations

from services.notifications import repository
from services.notifications.config import Settings as NotificationsSettings
from services.notifications.main import build_runtime
from services.notifications.seed import DEMO, load_demo_stakeholders
from shared.platform.pagination import PageParams
from tests.support import Env


async def test_demo_stakeholders_are_loaded_once(env: Env) -> None:
    settings = env.settings(NotificationsSettings)
    subscriptions = sum(len(subs) for _, subs in DEMO)
    assert await load_demo_stakeholders(settings) == {"stakeholders": len(DEMO), "subscriptions": subscriptions}
    assert await load_demo_stakeholders(settings) == {"stakeholders": 0, "subscriptions": 0}

    runtime = build_runtime(settings.model_copy(update={"run_workers": False}))
    await runtime.start()
    try:
        async with runtime.sessions() as session:
            everyone = await repository.list_stakeholders(session, PageParams(limit=50), None)
            assert sorted(s.email for s in everyone) == sorted(person.email for person, _ in DEMO)
            coordinator = await repository.stakeholder_by_email(session, "CLAIRE.DUBOIS@lyon.example")
            assert coordinator is not None and coordinator.language == "fr"
            subscribed = await repository.list_subscriptions(session, PageParams(limit=50), coordinator.id)
            assert sorted((s.channel.value, s.mode.value, s.overdue_only) for s in subscribed) == [
                ("email", "digest", False),
                ("email", "immediate", True),
            ]
    finally:
        await runtime.stop()
