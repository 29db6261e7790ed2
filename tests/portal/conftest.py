"""The whole system for the portal's tests: the three services and the portal as real uvicorn
processes on real Kafka and PostgreSQL, the CLUSNET demo data, demo people and a hostile title.
Started once per test session (it takes a while) and shared by the page and browser tests."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, Playwright, sync_playwright

from provision.processes import ServiceProcess, portal_urls, service_env, start_service, wait_ready
from provision.system import free_port
from services.recommendations.config import Settings as RecommendationsSettings
from services.recommendations.seed import load_demo_data
from shared.platform import auth, people
from shared.platform.db import ensure_database, make_engine, make_session_factory
from shared.platform.migrate import upgrade
from shared.platform.runtime import AUTH_MIGRATIONS
from tests.receivers import Inbox
from tests.support import Env

T = TypeVar("T")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery staple"
HOSTILE_TITLE = "<script>alert(1)</script>"
PEOPLE = {
    # key: (email, name, role, city, language)
    "leipzig": ("jana.vogel@leipzig.example", "Jana Vogel", auth.Role.city_official, "leipzig", "en"),
    "leipzig2": ("max.weber@leipzig.example", "Max Weber", auth.Role.city_official, "leipzig", "en"),
    "leipzig_de": ("petra.schulz@leipzig.example", "Petra Schulz", auth.Role.city_official, "leipzig", "de"),
    "lyon": ("luc.bernard@lyon.example", "Luc Bernard", auth.Role.city_official, "lyon", "fr"),
    "lead": ("claire.martin@lyon.example", "Claire Martin", auth.Role.lead_partner, None, "en"),
    "admin": ("ada.admin@clusnet.example", "Ada Admin", auth.Role.admin, None, "en"),
    "lead_fr": ("sophie.durand@lyon.example", "Sophie Durand", auth.Role.lead_partner, None, "fr"),
    "throttled": ("try.hard@manchester.example", "Try Hard", auth.Role.city_official, "manchester", "en"),
}


@dataclass
class PortalSystem:
    env: Env
    services: dict[str, ServiceProcess]
    tokens: dict[str, str]
    inbox: Inbox
    leipzig_followup: str
    lyon_followup: str
    hostile_followup: str

    @property
    def url(self) -> str:
        return self.services["portal"].url

    def email(self, who: str) -> str:
        return PEOPLE[who][0]

    def api(self, service: str, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.services[service].url, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def fresh_followup(self, title: str, city: str = "leipzig") -> str:
        """Issue a new recommendation to `city` (on its seminar) and answer its follow-up's id, so
        that a test starts from a follow-up no other test has touched."""
        with self.api("recommendations", self.tokens["lead"]) as rec:
            seminar = next(s for s in rec.get("/seminars").json()["items"] if s["host_city"] == city)
            draft = rec.post(
                f"/seminars/{seminar['id']}/recommendations",
                json={"title": title, "text": f"{title}: the text.", "dimension": "processes", "due_date": "2030-01-31"},
            )
            assert draft.status_code == 201, draft.text
            assert rec.post(f"/recommendations/{draft.json()['id']}/issue").status_code == 200
        with self.api("evaluations", self.tokens["lead"]) as ev:

            def opened() -> str | None:
                items = ev.get("/follow-ups", params={"city": city, "limit": 200}).json()["items"]
                return next((f["id"] for f in items if f["recommendation_id"] == draft.json()["id"]), None)

            found: str = _wait_for(opened, f"the follow-up of {title!r}")
        return found


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from sync code, in its own thread: Playwright's sync API keeps an
    event loop running in the test thread, where asyncio.run refuses to start another."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@contextmanager
def sign_in(system: PortalSystem, who: str, **headers: str) -> Iterator[httpx.Client]:
    """An httpx client holding a signed-in session cookie, as a browser would."""
    with httpx.Client(base_url=system.url, timeout=15, headers=headers) as client:
        form = client.get("/login")
        answer = client.post("/login", data={"email": system.email(who), "password": PASSWORD, "csrf_token": csrf_of(form.text)})
        assert answer.status_code == 303, answer.text
        yield client


async def _setup_people(env: Env) -> None:
    await ensure_database(env.auth_url)
    await asyncio.to_thread(upgrade, env.auth_url, AUTH_MIGRATIONS)
    engine = make_engine(env.auth_url, pool_size=1)
    try:
        async with make_session_factory(engine)() as session:
            for email, name, role, city, language in PEOPLE.values():
                await people.create_person(
                    session, email=email, name=name, role=role, city=city, language=language, password=PASSWORD
                )
    finally:
        await engine.dispose()


def _wait_for(probe: Any, what: str, timeout: float = 60) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def portal_system(kafka: str, pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalSystem]:
    env = Env(kafka=kafka, pg_server=pg_server, prefix=f"p{uuid.uuid4().hex[:10]}")
    logs: Path = tmp_path_factory.mktemp("portal-logs")
    names = ("recommendations", "evaluations", "notifications")
    ports = {name: free_port() for name in names}
    portal_port = free_port()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    base = {
        "TOPIC_PREFIX": env.prefix,
        "LOG_JSON": "false",
        "RELAY_POLL_INTERVAL_S": "0.05",
        "DISPATCH_INTERVAL_S": "0.1",
        "SMTP_PORT": str(smtp.port),
        "PORTAL_URL": f"http://127.0.0.1:{portal_port}",
    }
    running: dict[str, ServiceProcess] = {}
    try:
        for name in names:
            running[name] = start_service(
                name, ports[name], service_env(name, env.kafka, env.pg_server, env.prefix, **base), logs
            )
        wait_ready(list(running.values()))
        running["portal"] = start_service(
            "portal",
            portal_port,
            service_env("portal", env.kafka, env.pg_server, env.prefix, **base, **portal_urls(ports)),
            logs,
        )
        wait_ready([running["portal"]])
        run_async(_setup_people(env))
        run_async(load_demo_data(env.settings(RecommendationsSettings)))
        tokens = {"lead": run_async(env.token("lead_partner")), "integration": run_async(env.token("integration"))}
        system = PortalSystem(env, running, tokens, inbox, "", "", "")
        with system.api("recommendations", tokens["lead"]) as rec:
            seminar = next(s for s in rec.get("/seminars").json()["items"] if s["host_city"] == "leipzig")
            draft = rec.post(
                f"/seminars/{seminar['id']}/recommendations",
                json={"title": HOSTILE_TITLE, "text": "<b>bold?</b> & more", "dimension": "processes"},
            )
            assert draft.status_code == 201, draft.text
            assert rec.post(f"/recommendations/{draft.json()['id']}/issue").status_code == 200
        with system.api("evaluations", tokens["lead"]) as ev:

            def followups() -> list[dict[str, Any]] | None:
                items = ev.get("/follow-ups", params={"limit": 200}).json()["items"]
                return items if any(f["recommendation_title"] == HOSTILE_TITLE for f in items) and len(items) >= 12 else None

            items = _wait_for(followups, "the demo follow-ups")
        leipzig = [f for f in items if f["city"] == "leipzig" and f["recommendation_title"] != HOSTILE_TITLE]
        system.leipzig_followup = leipzig[0]["id"]
        system.lyon_followup = next(f["id"] for f in items if f["city"] == "lyon")
        system.hostile_followup = next(f["id"] for f in items if f["recommendation_title"] == HOSTILE_TITLE)
        yield system
    finally:
        for svc in running.values():
            svc.stop()
        smtp.stop()


# The session's one Chromium, for every browser test module here (a session fixture defined in
# two modules would start Playwright twice, which its sync API refuses).


# Package scope, not session: Playwright's sync API keeps an event loop running in the main thread
# while it lives, and the async tests that pytest runs after this package need that thread's loop.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM)
    yield browser
    browser.close()
