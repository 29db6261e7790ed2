"""A flood of requests with garbage tokens from one client address is answered 429 with
Retry-After once its failure budget is spent; other addresses, and tokens already verified, are
served as before."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from services.evaluations.config import Settings as EvaluationsSettings
from services.evaluations.main import create_app as evaluations_app
from shared.platform.settings import ServiceSettings
from tests.support import Env, running

pytestmark = pytest.mark.services

FLOODER = ("203.0.113.7", 40000)  # addresses only label the ASGI scope: no traffic leaves the process
NEIGHBOUR = ("198.51.100.9", 40001)


def client(app: object, address: tuple[str, int], token: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=address)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {token}"})


async def test_bad_token_flood_is_throttled_per_address(env: Env) -> None:
    limit = ServiceSettings.model_fields["auth_failure_limit"].default  # the shipped default, "20/minute"
    allowed = int(limit.split("/")[0])
    app = evaluations_app(env.settings(EvaluationsSettings, auth_failure_limit=limit, run_workers=False))
    good = await env.token("lead_partner")
    async with running(app):
        async with client(app, FLOODER, good) as flooder_with_good_token:
            assert (await flooder_with_good_token.get("/follow-ups")).status_code == 200  # verified, hence cached
        async with client(app, FLOODER, "clusnet_garbage_" + "x" * 40) as flooder:
            answers = [await flooder.get("/follow-ups") for _ in range(300)]
        statuses = Counter(a.status_code for a in answers)
        assert statuses == {401: allowed, 429: 300 - allowed}, statuses
        throttled = answers[-1]
        assert throttled.headers["content-type"] == "application/problem+json"
        assert 0 < int(throttled.headers["retry-after"]) <= 60
        assert "too many requests" in throttled.json()["detail"]
        async with client(app, FLOODER, "") as tokenless:
            assert (await tokenless.get("/follow-ups")).status_code == 429

        async with client(app, NEIGHBOUR, good) as neighbour:
            assert (await neighbour.get("/follow-ups")).status_code == 200
        async with client(app, NEIGHBOUR, "clusnet_wrong_" + "y" * 40) as neighbour_typo:
            assert (await neighbour_typo.get("/follow-ups")).status_code == 401  # its own budget, untouched
        async with client(app, FLOODER, good) as colleague_behind_the_same_nat:
            assert (await colleague_behind_the_same_nat.get("/follow-ups")).status_code == 200
