"""Demo stakeholders for `clusnet seed`: the lead partner's coordinator (in French, everything,
as a daily digest) and a Leipzig official (in English, Leipzig's events as they happen)."""

from __future__ import annotations

from services.notifications import repository, service
from services.notifications.config import Settings
from services.notifications.main import build_runtime
from services.notifications.models import StakeholderCreate, SubscriptionCreate

DEMO: list[tuple[StakeholderCreate, list[dict[str, object]]]] = [
    (
        StakeholderCreate(
            name="Claire Dubois",
            email="claire.dubois@lyon.example",
            organisation="Lyon (lead partner)",
            city="lyon",
            role="project coordinator",
            language="fr",
            timezone="Europe/Paris",
            digest_hour=8,
        ),
        [{"channel": "email", "mode": "digest"}, {"channel": "email", "overdue_only": True}],
    ),
    (
        StakeholderCreate(
            name="Jana Vogel",
            email="jana.vogel@leipzig.example",
            organisation="City of Leipzig",
            city="leipzig",
            role="economic development officer",
            language="en",
            timezone="Europe/Berlin",
        ),
        [{"channel": "email", "cities": ["leipzig"]}],
    ),
]


async def load_demo_stakeholders(settings: Settings | None = None) -> dict[str, int]:
    settings = (settings or Settings()).model_copy(update={"run_workers": False})
    runtime = build_runtime(settings)
    added = {"stakeholders": 0, "subscriptions": 0}
    await runtime.start()
    try:
        async with runtime.sessions() as session:
            for person, subscriptions in DEMO:
                if await repository.stakeholder_by_email(session, person.email):
                    continue
                created = await service.create_stakeholder(session, person)
                added["stakeholders"] += 1
                for sub in subscriptions:
                    data = SubscriptionCreate.model_validate({"stakeholder_id": created.id, **sub})
                    await service.subscribe(session, data, allow_loopback=settings.webhook_allow_loopback)
                    added["subscriptions"] += 1
    finally:
        await runtime.stop()
    return added
