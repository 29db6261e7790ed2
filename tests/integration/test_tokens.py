"""What docs/security.md says of revocation: a verified token is trusted for AUTH_CACHE_S seconds
per process, then a revoked one is refused."""

from __future__ import annotations

import asyncio

import pytest

from services.recommendations.config import Settings
from services.recommendations.main import create_app
from shared.platform import auth
from shared.platform.db import make_engine, make_session_factory
from tests.support import Env, running

pytestmark = pytest.mark.services


async def test_a_revoked_token_is_refused_once_the_cache_time_has_passed(env: Env) -> None:
    app = create_app(env.settings(Settings, auth_cache_s=1.0))
    async with running(app), await env.client(app, "integration") as client:
        assert (await client.get("/partners")).status_code == 200  # verified, and now cached
        token_id = client.headers["Authorization"].split("_")[1]
        engine = make_engine(env.auth_url, pool_size=1)
        async with make_session_factory(engine)() as session:
            assert await auth.revoke_token(session, token_id)
        await engine.dispose()
        await asyncio.sleep(1.2)
        refused = await client.get("/partners")
    assert refused.status_code == 401 and refused.json()["detail"] == "the bearer token has been revoked"
