"""What docs/security.md says of revocation: a verified token is trusted for AUTH_CACHE_S seconds
per process, then a revoked one is refused."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from services.recommendations.config import Settings
from services.recommendations.main import create_app
from shared.platform import auth
from shared.platform.db import make_engine, make_session_factory
from shared.platform.errors import Unauthorized
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


async def test_requests_that_find_a_token_unverified_at_once_share_one_read(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    real_verify = auth.verify

    async def counted(session: AsyncSession, token: str) -> auth.Principal:  # the real read, counted
        reads.append(token)
        return await real_verify(session, token)

    monkeypatch.setattr(auth, "verify", counted)
    engine = make_engine(env.auth_url, pool_size=2)
    verifier = auth.TokenVerifier(make_session_factory(engine), ttl_s=5.0)
    try:
        token = await env.token("integration")
        principals = await asyncio.gather(*(verifier.principal(token) for _ in range(30)))
        assert len(reads) == 1 and {p.role for p in principals} == {auth.Role.integration}
        assert await verifier.principal(token) == principals[0] and len(reads) == 1  # cached now

        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        refused = await asyncio.gather(*(verifier.principal(forged) for _ in range(10)), return_exceptions=True)
        assert all(isinstance(r, Unauthorized) for r in refused) and len(reads) == 2

        other = await env.token("lead_partner")  # one request gone while it waits: the others still get their answer
        waiting = [asyncio.create_task(verifier.principal(other)) for _ in range(3)]
        await asyncio.sleep(0)
        waiting[0].cancel()
        assert [p.role for p in await asyncio.gather(*waiting[1:])] == [auth.Role.lead_partner] * 2
        assert waiting[0].cancelled() and len(reads) == 3
    finally:
        await engine.dispose()
