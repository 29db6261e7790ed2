"""A steady load over the three HTTP APIs, as a lead partner, city officials and an admin would
make it, with a ledger of what was done (and when) for the auditor.

One operation at a time, a few per second: issue a recommendation (draft + issue), revise one,
withdraw one, a city's update of its follow-up (notes, with If-Match). An operation answered
with an error or no answer is *uncertain* (it may or may not have happened: a commit can succeed
just before the connection drops); the auditor holds only certain ones to "exactly once" and
uncertain ones to "at most once"."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from shared.platform import auth
from shared.platform.db import make_engine, make_session_factory, with_database
from tests.faults.system import ChaosSystem

CITIES = ("lyon", "leipzig", "helsinki")
# A write refused because the consumers downstream run behind (shared/platform/http.AdmissionControl):
# a worker killed mid-batch leaves its events waiting, and writes arriving then are told to come back.
BACKPRESSURE = "downstream are behind"


@dataclass
class Answer:
    at: float
    service: str
    method: str
    path: str
    status: int  # 0: no answer (connection error or timeout)
    backpressure: bool = False  # a 503 refusing a write while the consumers downstream were behind


@dataclass
class Rec:
    id: str
    city: str
    issued_at: float
    version: int = 1
    text: str = ""
    withdrawn: bool = False
    certain: bool = True  # every step so far was answered with success


@dataclass
class CityUpdate:
    tag: str
    followup_id: str
    at: float
    certain: bool


@dataclass
class Ledger:
    answers: list[Answer] = field(default_factory=list)
    recs: dict[str, Rec] = field(default_factory=dict)
    updates: list[CityUpdate] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)
    poison: list[str] = field(default_factory=list)
    operations: int = 0


class Load:
    def __init__(self, system: ChaosSystem, rate_per_s: float = 3.0, seed: int = 7) -> None:
        self.system = system
        self.rate = rate_per_s
        self.random = random.Random(seed)
        self.ledger = Ledger()
        self.seminars: dict[str, str] = {}
        self.tokens: dict[str, str] = {}

    async def _tokens(self) -> None:
        url = with_database(self.system.pg.url, f"{self.system.prefix}_auth")
        engine = make_engine(url, pool_size=1)
        async with make_session_factory(engine)() as session:
            for label, role, city in (
                ("admin", auth.Role.admin, None),
                ("lead", auth.Role.lead_partner, None),
                *((c, auth.Role.city_official, c) for c in CITIES),
            ):
                self.tokens[label] = (await auth.create_token(session, role, city, label=f"chaos {label}"))[1]
        await engine.dispose()

    def client(self, service: str, who: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.system.url(service), headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=10
        )

    async def call(self, client: httpx.AsyncClient, service: str, method: str, path: str, **kw: Any) -> httpx.Response | None:
        for attempt in (1, 2):
            try:
                answer = await client.request(method, path, **kw)
                break
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                # A kept-alive connection the server closed just as we sent on it: the request never
                # reached the application. A reader (GET) asks once more, as HTTP clients do.
                if method != "GET" or attempt == 2:
                    return self._no_answer(service, method, f"{path} ({type(exc).__name__})")
            except httpx.HTTPError as exc:
                return self._no_answer(service, method, f"{path} ({type(exc).__name__})")
        backpressure = answer.status_code == 503 and BACKPRESSURE in answer.text and "retry-after" in answer.headers
        self.ledger.answers.append(Answer(time.monotonic(), service, method, path, answer.status_code, backpressure))
        return answer

    def _no_answer(self, service: str, method: str, what: str) -> None:
        self.ledger.answers.append(Answer(time.monotonic(), service, method, what, 0))
        return None

    async def setup(self, subscribers: int = 2) -> None:
        """The webhook subscribers first (so that every event of the run, the seminars' included, is
        expected at every subscriber), then partners, clusters and one seminar per city."""
        await self._tokens()
        async with self.client("notifications", "admin") as admin:
            for n in range(subscribers):
                person = {"name": f"Subscriber {n}", "email": f"subscriber{n}@chaos.example"}
                stakeholder = (await admin.post("/stakeholders", json=person)).json()
                sub = {"stakeholder_id": stakeholder["id"], "channel": "webhook", "url": self.system.receiver.url}
                answer = await admin.post("/subscriptions", json=sub)
                assert answer.status_code == 201, answer.text
                self.ledger.subscriptions.append(answer.json()["id"])
        async with self.client("recommendations", "admin") as admin, self.client("recommendations", "lead") as lead:
            for city in CITIES:
                partner = {"slug": city, "name": city.title(), "country": "EU"}
                assert (await admin.post("/partners", json=partner)).status_code == 201
                cluster = {"slug": f"{city}-cluster", "name": f"{city} cluster", "sector": "biotech", "city": city}
                assert (await admin.post("/clusters", json=cluster)).status_code == 201
                seminar = {"host_city": city, "theme": "Chaos", "cluster": f"{city}-cluster", "held_on": "2009-11-26"}
                answer = await lead.post("/seminars", json=seminar)
                assert answer.status_code == 201, answer.text
                self.seminars[city] = answer.json()["id"]

    async def run(self, stop: asyncio.Event) -> None:
        async with (
            self.client("recommendations", "lead") as lead,
            self.client("evaluations", "lyon") as lyon,
            self.client("evaluations", "leipzig") as leipzig,
            self.client("evaluations", "helsinki") as helsinki,
        ):
            officials = {"lyon": lyon, "leipzig": leipzig, "helsinki": helsinki}
            while not stop.is_set():
                started = time.monotonic()
                roll = self.random.random()
                live = [r for r in self.ledger.recs.values() if r.certain and not r.withdrawn]
                if roll < 0.4 or len(live) < 3:
                    await self.issue(lead)
                elif roll < 0.6:
                    await self.revise(lead, self.random.choice(live))
                elif roll < 0.65:
                    await self.withdraw(lead, self.random.choice(live))
                else:
                    rec = self.random.choice(live)
                    await self.city_update(officials[rec.city], rec)
                self.ledger.operations += 1
                await asyncio.sleep(max(0.0, 1 / self.rate - (time.monotonic() - started)))

    async def issue(self, lead: httpx.AsyncClient) -> Rec | None:
        city = self.random.choice(CITIES)
        text = f"text {uuid.uuid4().hex[:8]}"
        draft = {"title": "Chaos recommendation", "text": text, "dimension": "setting"}
        answer = await self.call(lead, "recommendations", "POST", f"/seminars/{self.seminars[city]}/recommendations", json=draft)
        if answer is None or answer.status_code != 201:
            return None  # a draft has no event: an unanswered one changes nothing downstream
        rec_id = answer.json()["id"]
        issued = await self.call(lead, "recommendations", "POST", f"/recommendations/{rec_id}/issue")
        rec = Rec(
            id=rec_id, city=city, issued_at=time.monotonic(), text=text, certain=issued is not None and issued.status_code == 200
        )
        if issued is not None and issued.status_code == 409:
            return None  # refused: nothing happened
        self.ledger.recs[rec_id] = rec
        return rec

    async def revise(self, lead: httpx.AsyncClient, rec: Rec) -> None:
        text = f"revised {uuid.uuid4().hex[:8]}"
        answer = await self.call(
            lead, "recommendations", "POST", f"/recommendations/{rec.id}/revise", json={"reason": "sharper", "text": text}
        )
        if answer is not None and answer.status_code == 200:
            rec.version, rec.text = answer.json()["version"], text
        elif answer is None or answer.status_code >= 500:
            rec.certain = False

    async def withdraw(self, lead: httpx.AsyncClient, rec: Rec) -> None:
        answer = await self.call(lead, "recommendations", "POST", f"/recommendations/{rec.id}/withdraw", json={"reason": "moot"})
        if answer is not None and answer.status_code == 200:
            rec.withdrawn = True
        elif answer is None or answer.status_code >= 500:
            rec.certain = False

    async def city_update(self, official: httpx.AsyncClient, rec: Rec) -> None:
        followup_id = await self.followup_of(rec)
        if followup_id is None:
            return  # not opened yet (the consumer is behind): nothing to update
        read = await self.call(official, "evaluations", "GET", f"/follow-ups/{followup_id}")
        if read is None or read.status_code != 200:
            return
        tag = f"update {uuid.uuid4().hex[:10]}"
        answer = await self.call(
            official,
            "evaluations",
            "PATCH",
            f"/follow-ups/{followup_id}",
            json={"notes": tag},
            headers={"If-Match": read.headers["etag"]},
        )
        if answer is not None and answer.status_code in (412, 409, 422):
            return  # refused: nothing happened
        certain = answer is not None and answer.status_code == 200
        self.ledger.updates.append(CityUpdate(tag=tag, followup_id=followup_id, at=time.monotonic(), certain=certain))

    async def followup_of(self, rec: Rec) -> str | None:
        """The follow-up's id, read from the evaluations database; None when it is not there yet or
        the database cannot say now (a fault is under way: the load goes on with something else).
        asyncpg's InterfaceError too: a 10-minute run once died of its InternalClientError."""
        unreadable = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
        try:
            conn = await asyncpg.connect(self.system.database("evaluations"), timeout=5)
        except unreadable:
            return None
        try:
            found = await conn.fetchval("SELECT id FROM followup WHERE recommendation_id = $1", uuid.UUID(rec.id), timeout=5)
        except unreadable:
            return None
        finally:
            conn.terminate()  # a closing handshake on a broken connection can fail or hang too
        return str(found) if found else None

    async def send_poison(self) -> str:
        """A message no consumer can decode, of a type both consumers route: it must be dead-lettered
        (once per consumer group) and must not stop its partition."""
        from tests.support import produce

        poison_id = str(uuid.uuid4())
        headers = [
            ("ce_id", poison_id.encode()),
            ("ce_type", b"eu.clusnet.recommendation.issued.v1"),
            ("ce_source", b"/chaos"),
            ("ce_specversion", b"1.0"),
            ("ce_time", b"2026-01-01T00:00:00Z"),
        ]
        await produce(self.system.kafka.bootstrap, f"{self.system.prefix}.recommendations", [(b"poison", b"{not json", headers)])
        self.ledger.poison.append(poison_id)
        return poison_id
