"""My notifications on the real notifications service (Kafka, PostgreSQL, SMTP on loopback): a
person manages their own email subscriptions; every email links to its page and carries a
one-click unsubscribe (RFC 8058) that works without signing in and touches only its subscription;
German emails."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.notifications.main import create_app
from tests.factories import issued, link_event
from tests.integration.test_notifications import settings_for
from tests.receivers import smtp_server
from tests.support import Env, eventually, produce, running

pytestmark = pytest.mark.services
PORTAL = "https://portal.clusnet.example"


async def person(env: Env, app: Any, email: str, city: str = "leipzig") -> httpx.AsyncClient:
    token = await env.token("city_official", city, person_email=email)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"Authorization": f"Bearer {token}"}
    )


async def test_a_person_subscribes_gets_german_mail_and_unsubscribes_in_one_click(env: Env) -> None:
    async with smtp_server() as (inbox, smtp_port):
        app = create_app(settings_for(env, smtp_port, portal_url=PORTAL))
        async with running(app), await person(env, app, "jana.vogel@leipzig.example") as jana:
            assert (await jana.get("/me/subscriptions")).json() == {"language": "en", "items": []}
            leipzig = await jana.post(
                "/me/subscriptions",
                json={"cities": ["leipzig"], "event_types": ["recommendation.issued"], "language": "de", "name": "Jana Vogel"},
            )
            assert leipzig.status_code == 201, leipzig.text
            lyon = await jana.post("/me/subscriptions", json={"cities": ["lyon"], "mode": "digest"})
            assert lyon.status_code == 201
            mine = (await jana.get("/me/subscriptions")).json()
            assert mine["language"] == "de" and [s["cities"] for s in mine["items"]] == [["leipzig"], ["lyon"]]
            assert all("unsubscribe_token" not in s for s in mine["items"])  # the capability is only ever in the emails

            # a program's token is no person; another person cannot touch Jana's subscriptions
            program = await env.client(app, "admin")
            refused = await program.get("/me/subscriptions")
            assert refused.status_code == 403 and "only a person" in refused.json()["detail"]
            async with await person(env, app, "max.weber@leipzig.example") as max_:
                assert (await max_.post(f"/me/subscriptions/{leipzig.json()['id']}/disable")).status_code == 403
                assert (await max_.get("/me/subscriptions")).json()["items"] == []

            event = issued(city="leipzig", title="Involve private industry")
            await produce(env.kafka, env.topic("recommendations"), [event.to_kafka()])
            await eventually(lambda: _true(len(inbox.messages) >= 1), what="the email")
            mail = inbox.messages[0]
            assert mail["Subject"].strip() == "[CLUSNET] Neue Empfehlung für Leipzig: Involve private industry"
            text = mail.get_body(("plain",)).get_content()
            assert text.startswith("Guten Tag Jana Vogel") and f"Im Tracker öffnen: {PORTAL}/" in text
            unsubscribe = mail["List-Unsubscribe"].strip()
            assert unsubscribe.startswith(f"<{PORTAL}/unsubscribe/") and unsubscribe.endswith(">")
            assert mail["List-Unsubscribe-Post"].strip() == "List-Unsubscribe=One-Click"
            assert unsubscribe[1:-1] in mail.get_body(("html",)).get_content()

            # the one-click POST needs no bearer token and turns off that subscription only
            token = unsubscribe[1:-1].rsplit("/", 1)[1]
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as anonymous:
                done = await anonymous.post(f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click")
                assert done.status_code == 200 and done.json() == {"subscription_id": leipzig.json()["id"], "active": False}
                assert (await anonymous.post(f"/unsubscribe/{token}")).status_code == 200  # twice is harmless
                assert (await anonymous.post("/unsubscribe/" + "x" * 32)).status_code == 404
            states = {s["id"]: s["active"] for s in (await jana.get("/me/subscriptions")).json()["items"]}
            assert states == {leipzig.json()["id"]: False, lyon.json()["id"]: True}
            # and the owner can turn it on again from My notifications
            assert (await jana.post(f"/me/subscriptions/{leipzig.json()['id']}/enable")).json()["active"] is True
            await program.aclose()


async def _true(value: bool) -> bool:
    return value


async def test_a_persons_own_subscription_carries_only_what_they_may_read(env: Env) -> None:
    """A private inter-cluster link (Manchester–Leipzig) is private evidence: Leipzig's official is
    told of it, Lyon's official and a person with an integration role are not; a public one reaches all."""
    async with smtp_server() as (_, smtp_port):
        app = create_app(settings_for(env, smtp_port))
        integration_token = await env.token("integration", None, person_email="bot@partner.example")
        bot = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {integration_token}"},
        )
        async with (
            running(app),
            await person(env, app, "jana.vogel@leipzig.example") as jana,
            await person(env, app, "paul.martin@lyon.example", city="lyon") as paul,
            bot,
            await env.client(app, "admin") as admin,
        ):
            subscribed = {}
            for name, client in (("jana", jana), ("paul", paul), ("bot", bot)):
                answer = await client.post("/me/subscriptions", json={"event_types": ["cluster_link.proposed"]})
                assert answer.status_code == 201, answer.text
                subscribed[name] = answer.json()["id"]
            private, public = link_event(public=False), link_event(public=True)
            await produce(env.kafka, env.topic("recommendations"), [private.to_kafka(), public.to_kafka()])

            async def told(name: str) -> set[str]:
                found = (await admin.get("/deliveries", params={"subscription": subscribed[name]})).json()["items"]
                return {d["event_id"] for d in found}

            await eventually(lambda: _has(told, "jana", 2), what="Leipzig told of both")
            assert await told("jana") == {str(private.id), str(public.id)}
            assert await told("paul") == {str(public.id)}  # another city's private link: not Lyon's to read
            assert await told("bot") == {str(public.id)}  # an integration sees public evidence only


async def _has(told: Any, name: str, n: int) -> bool:
    return len(await told(name)) >= n
