"""`make run`'s demo people: created with fresh passwords that sign in, again on every run."""

from __future__ import annotations

import pytest

from provision.run import DEMO_PEOPLE, demo_people
from shared.platform import people
from shared.platform.db import ensure_database, make_engine, make_session_factory
from tests.support import Env

pytestmark = pytest.mark.services


async def test_demo_people_sign_in_and_are_renewed_on_each_run(env: Env) -> None:
    await env.token("admin")  # creates and migrates the auth database
    await ensure_database(env.auth_url)
    first = await demo_people(env.auth_url)
    second = await demo_people(env.auth_url)
    assert [e for _, e, _ in first] == [e for _, e, _ in second] == [p[1] for p in DEMO_PEOPLE]
    engine = make_engine(env.auth_url, pool_size=1)
    try:
        async with make_session_factory(engine)() as session:
            for (_, email, old), (_, _, new) in zip(first, second, strict=True):
                assert old != new
                assert await people.authenticate(session, email, old) is None
                person = await people.authenticate(session, email, new)
                assert person is not None and person.email == email
    finally:
        await engine.dispose()
