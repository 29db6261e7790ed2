"""8. The web portal's pages at a programme's scale: `SEMINARS` seminars × 20 recommendations (300
at full scale: about fifteen years of CLUSNET), a quarter of the follow-ups answered by their
city, some marked implemented, evidence public and private, some verified. Each page a person
meets is timed signed in as the lead partner and as a Leipzig city official, and its content
checked where that is cheap (a page that is quick because it left rows out is not met).

The whole system runs as `make run` runs it: the three services and the portal as real
processes (`clusnet serve`, API and workers in one process each) on the given Kafka and
PostgreSQL, the data loaded through the services' HTTP API as the portal and integrations send
it. Everything shares the machine's 2 cores with the load generator and the page client.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import random
import re
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from openpyxl import load_workbook

from bench.common import Row, cpu_of
from bench.services import LOGS, SCALE
from provision.processes import ServiceProcess, portal_urls, service_env, start_service, wait_ready
from provision.system import free_port
from services.portal.api import PUBLIC_SEMINARS_PER_PAGE
from services.portal.dashboard import LISTED
from services.recommendations.config import Settings as RecommendationsSettings
from services.recommendations.seed import load_demo_data
from shared.platform import auth, people
from shared.platform.db import ensure_database, make_engine, make_session_factory, with_database
from shared.platform.migrate import upgrade
from shared.platform.runtime import AUTH_MIGRATIONS

SEMINARS = max(20, int(300 * SCALE))
PER_SEMINAR = 20
TARGET_S = 1.0  # no issue sets one: a page a person waits for
ROUNDS = 3  # timed, after one warm-up
PASSWORD = "bench pages: a throwaway person"  # in a throwaway database
PEOPLE = {  # key: (email, name, role, city)
    "lead partner": ("claire.martin@lyon.example", "Claire Martin", auth.Role.lead_partner, None),
    "Leipzig official": ("jana.vogel@leipzig.example", "Jana Vogel", auth.Role.city_official, "leipzig"),
}
PAGES = (  # label (the row's), path; {seminar} and {followup} are filled in once the data is there
    "/",
    "/?page=2",
    "/city",
    "/dashboard",
    "/dashboard.csv",
    "/dashboard.xlsx",
    "/seminars",
    "/seminars/{seminar}",
    "/follow-ups/{followup}",
    "/reports/leipzig",
    "/verification",
    "/network",
    "/spreadsheets/follow-ups.xlsx",
)
LOAD_CONCURRENCY = 3  # seminars loaded at once (create, import, hold, publish)
UPDATE_CONCURRENCY = 4  # cities' answers sent at once
FOLLOWUPS_TIMEOUT_S = 1200.0  # evaluations consuming every issued recommendation

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
THEMES = ("networks", "funding", "skills", "exports")


@dataclass
class Truth:
    """What the services hold, read through their APIs once the load is in: what each page should show."""

    seminars: list[dict[str, Any]]
    published_newest_first: list[dict[str, Any]]
    in_force: Counter[str]  # issued or revised recommendations, by seminar id
    responses: Counter[str]  # follow-ups of recommendations in force, by seminar id
    seminar: dict[str, Any]  # the one whose page is opened
    seminar_recommendations: int
    followup: dict[str, Any]  # the one whose page is opened
    visible: dict[str, list[dict[str, Any]]]  # each person's follow-ups
    awaiting: dict[str, int]  # each person's verification queue
    overdue: dict[str, int]  # each person's overdue follow-ups (the dashboard's list)
    evidence: dict[str, list[str]]  # the titles of the opened follow-up's evidence each person may see
    leipzig: int  # Leipzig's follow-ups (its report)


@dataclass
class Measured:
    page: str
    path: str
    person: str
    status: int
    seconds: float
    times: list[float]
    bytes: int
    complete: bool | None  # None: no cheap check for this page
    check: str
    error: str = ""


@dataclass
class Loaded:
    seconds: dict[str, float] = field(default_factory=dict)
    retries: int = 0
    updates: int = 0
    evidence: int = 0
    verified: int = 0
    failed: list[str] = field(default_factory=list)


# --- the system ----------------------------------------------------------------------------------
def _start(kafka: str, pg: str, prefix: str, running: dict[str, ServiceProcess]) -> None:
    """The three services, then the portal (it asks them for its readiness), as tests/portal does;
    each is put in `running` as soon as it is started, so the caller stops it whatever happens."""
    names = ("recommendations", "evaluations", "notifications")
    ports = {name: free_port() for name in names}
    portal_port = free_port()
    base = {
        "TOPIC_PREFIX": prefix,
        "LOG_JSON": "false",
        "LOG_LEVEL": "WARNING",
        "RELAY_POLL_INTERVAL_S": "0.05",
        "PORTAL_URL": f"http://127.0.0.1:{portal_port}",
        "AUTH_FAILURE_LIMIT": "100000/minute",
    }
    for name in names:
        running[name] = start_service(name, ports[name], service_env(name, kafka, pg, prefix, **base), LOGS)
    wait_ready([running[name] for name in names])
    running["portal"] = start_service(
        "portal", portal_port, service_env("portal", kafka, pg, prefix, **base, **portal_urls(ports)), LOGS
    )
    wait_ready([running["portal"]])


async def _token(auth_url: str, role: auth.Role, city: str | None = None) -> str:
    engine = make_engine(auth_url, pool_size=1)
    try:
        async with make_session_factory(engine)() as session:
            return (await auth.create_token(session, role, city))[1]
    finally:
        await engine.dispose()


async def _people(auth_url: str) -> None:
    """The two people who sign in to the portal."""
    await ensure_database(auth_url)
    await asyncio.to_thread(upgrade, auth_url, AUTH_MIGRATIONS)
    engine = make_engine(auth_url, pool_size=1)
    try:
        async with make_session_factory(engine)() as session:
            for email, name, role, city in PEOPLE.values():
                await people.create_person(session, email=email, name=name, role=role, city=city, password=PASSWORD)
    finally:
        await engine.dispose()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _call(client: httpx.AsyncClient, method: str, url: str, loaded: Loaded, **kwargs: Any) -> httpx.Response:
    """One request, sent again after the service's Retry-After while it sheds load (503, 429)."""
    for _ in range(120):
        answer = await client.request(method, url, **kwargs)
        if answer.status_code not in (429, 503):
            return answer
        loaded.retries += 1
        await asyncio.sleep(float(answer.headers.get("retry-after") or 1))
    return answer


async def _all(client: httpx.AsyncClient, url: str, token: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a list endpoint."""
    items: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        answer = await client.get(url, headers=_bearer(token), params={"limit": 200, "offset": offset, **params})
        answer.raise_for_status()
        items += answer.json()["items"]
        offset = answer.json()["next_offset"]
    return items


# --- the load ------------------------------------------------------------------------------------
def _sheet(number: int, held: date, cities: list[str], rng: random.Random) -> bytes:
    """A seminar's 20 recommendations as the CSV a lead partner imports, each to one city."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["title", "text", "dimension", "target_city", "due_date", "priority", "tags"])
    for i in range(PER_SEMINAR):
        due = held + timedelta(days=rng.randint(180, 1500))  # most are past: overdue unless implemented
        writer.writerow(
            [
                f"S{number:03d} R{i:02d}: strengthen the cluster's {THEMES[i % 4]}",
                f"Seminar {number}, recommendation {i}: "
                + "The cluster initiative should broaden its membership and report yearly on its progress. " * 3,
                ("setting", "objectives", "processes")[i % 3],
                cities[(number + i) % len(cities)],
                due.isoformat(),
                ("high", "medium", "low")[i % 3],
                "bench; pages",
            ]
        )
    return out.getvalue().encode()


async def _load_seminars(client: httpx.AsyncClient, rec: str, lead: str, clusters: dict[str, str], loaded: Loaded) -> None:
    """`SEMINARS` seminars held 2009-2024 across the partner cities: scheduled, 20 drafts imported
    from a sheet, held, report published (which issues the drafts)."""
    cities = sorted(clusters)
    rng = random.Random(7)
    sheets = []
    for k in range(SEMINARS):
        held = date(2009, 6, 1) + timedelta(days=k * 5475 // SEMINARS)
        sheets.append((k, held, _sheet(k, held, cities, rng)))
    gate = asyncio.Semaphore(LOAD_CONCURRENCY)

    async def one(k: int, held: date, sheet: bytes) -> None:
        async with gate:
            host = cities[k % len(cities)]
            theme = f"Seminar {k}: clusters in {host}"
            body = {"host_city": host, "theme": theme, "cluster": clusters[host], "held_on": str(held)}
            answer = await _call(client, "POST", f"{rec}/seminars", loaded, headers=_bearer(lead), json=body)
            assert answer.status_code == 201, answer.text
            seminar = answer.json()["id"]
            answer = await _call(
                client,
                "POST",
                f"{rec}/seminars/{seminar}/recommendations/import",
                loaded,
                headers=_bearer(lead),
                files={"file": (f"seminar-{k}.csv", sheet, "text/csv")},
            )
            assert answer.status_code == 200, answer.text[:500]
            for step in ("hold", "publish-report"):
                answer = await _call(client, "POST", f"{rec}/seminars/{seminar}/{step}", loaded, headers=_bearer(lead))
                assert answer.status_code == 200, answer.text[:500]

    await asyncio.gather(*(one(*s) for s in sheets))


async def _wait_for_followups(client: httpx.AsyncClient, rec: str, ev: str, lead: str) -> None:
    """Until evaluations has a follow-up for every recommendation in force (it builds them from the
    `recommendation.issued` events, through Kafka): first probing the list's last expected place,
    then checking every one."""
    recommendations = await _all(client, f"{rec}/recommendations", lead)
    expected = {r["id"] for r in recommendations if r["status"] in ("issued", "revised")}
    deadline = time.monotonic() + FOLLOWUPS_TIMEOUT_S
    while time.monotonic() < deadline:
        last = await client.get(f"{ev}/follow-ups", headers=_bearer(lead), params={"limit": 1, "offset": len(expected) - 1})
        if last.status_code == 200 and last.json()["items"]:
            have = {f["recommendation_id"] for f in await _all(client, f"{ev}/follow-ups", lead)}
            if expected <= have:
                return
        await asyncio.sleep(2)
    raise TimeoutError(f"evaluations did not open a follow-up for each of {len(expected)} recommendations")


async def _answer(client: httpx.AsyncClient, ev: str, lead: str, officials: dict[str, str], loaded: Loaded) -> None:
    """A quarter of the follow-ups answered by their city (accepted, a fifth partially), planned
    or in progress, a third of those in progress then implemented; a quarter of the answered get
    evidence, half of it public. Then the lead partner verifies a third of the queue."""
    followups = await _all(client, f"{ev}/follow-ups", lead)
    chosen = followups[::4]
    rng = random.Random(11)
    gate = asyncio.Semaphore(UPDATE_CONCURRENCY)

    async def answer(f: dict[str, Any], i: int) -> None:
        async with gate:
            city = _bearer(officials[f["city"]])
            url = f"{ev}/follow-ups/{f['id']}"
            current = await _call(client, "GET", url, loaded, headers=city)
            status = rng.choice(["planned", "in_progress"])
            body = {
                "response": "partially_accepted" if i % 5 == 0 else "accepted",
                "implementation_status": status,
                "owner": "Cluster office",
                "comment": "Answered for the portal's benchmark",
            }
            saved = await _call(client, "PATCH", url, loaded, headers={**city, "If-Match": current.headers["etag"]}, json=body)
            if saved.status_code != 200:
                loaded.failed.append(f"PATCH {saved.status_code} {saved.text[:200]}")
                return
            loaded.updates += 1
            if i % 3 == 0 and status == "in_progress":
                done = await _call(
                    client,
                    "PATCH",
                    url,
                    loaded,
                    headers={**city, "If-Match": saved.headers["etag"]},
                    json={"implementation_status": "implemented", "comment": "Done"},
                )
                loaded.updates += done.status_code == 200
            if i % 4 == 0:
                public = i % 8 == 0
                item = {
                    "title": f"Annual report {i}" if public else f"Private note {i}",
                    "url": f"https://example.org/{'report' if public else 'note'}/{i}",
                    "public": public,
                }
                added = await _call(client, "POST", f"{url}/evidence", loaded, headers=city, json=item)
                loaded.evidence += added.status_code == 201

    await asyncio.gather(*(answer(f, i) for i, f in enumerate(chosen)))
    waiting = await _all(client, f"{ev}/follow-ups", lead, awaiting_verification="true")

    async def verify(f: dict[str, Any]) -> None:
        async with gate:
            url = f"{ev}/follow-ups/{f['id']}/verification"
            answer = await _call(client, "POST", url, loaded, headers=_bearer(lead), json={"verification": "verified"})
            loaded.verified += answer.status_code == 200

    await asyncio.gather(*(verify(f) for f in waiting[::3]))


async def _settle(pids: list[int], limit: float = 0.15, timeout: float = 120) -> float:
    """Wait until the services are at rest (together under `limit` of a core over a second: relays,
    consumers and notifications done with the load's events); answer the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = cpu_of(pids)
        await asyncio.sleep(1)
        if cpu_of(pids) - before < limit:
            break
    return time.monotonic() - started


# --- what the pages should show ------------------------------------------------------------------
async def _truth(client: httpx.AsyncClient, rec: str, ev: str, tokens: dict[str, str]) -> Truth:
    lead = tokens["lead partner"]
    seminars = await _all(client, f"{rec}/seminars", lead)
    recommendations = await _all(client, f"{rec}/recommendations", lead)
    in_force = Counter(r["seminar_id"] for r in recommendations if r["status"] in ("issued", "revised"))
    forced = {r["id"] for r in recommendations if r["status"] in ("issued", "revised")}
    visible = {who: await _all(client, f"{ev}/follow-ups", token) for who, token in tokens.items()}
    responses = Counter(f["seminar_id"] for f in visible["lead partner"] if f["recommendation_id"] in forced)
    published = sorted(  # the public page's seminars: those with a recommendation in force
        (s for s in seminars if in_force[s["id"]]), key=lambda s: (s["held_on"], s["id"]), reverse=True
    )
    seminar = next(s for s in published if s["host_city"] == "leipzig" and s["theme"].startswith("Seminar "))
    # a Leipzig follow-up with private evidence: its page shows it to both people
    candidates = [f for f in visible["Leipzig official"] if f["response"] != "pending"]
    followup = candidates[0] if candidates else visible["Leipzig official"][0]
    for f in candidates:
        items = (await client.get(f"{ev}/follow-ups/{f['id']}/evidence", headers=_bearer(lead))).json()
        if any(not e["public"] for e in items):
            followup = f
            break
    evidence = {}
    for who, token in tokens.items():
        items = (await client.get(f"{ev}/follow-ups/{followup['id']}/evidence", headers=_bearer(token))).json()
        evidence[who] = [e["title"] for e in items]
    awaiting = {who: len(await _all(client, f"{ev}/follow-ups", t, awaiting_verification="true")) for who, t in tokens.items()}
    overdue = {}
    for who, token in tokens.items():
        progress = await client.get(f"{ev}/progress", headers=_bearer(token), params={"by": "dimension"})
        overdue[who] = len(progress.json()["overdue"])
    return Truth(
        seminars=seminars,
        published_newest_first=published,
        in_force=in_force,
        responses=responses,
        seminar=seminar,
        seminar_recommendations=sum(r["seminar_id"] == seminar["id"] for r in recommendations),
        followup=followup,
        visible=visible,
        awaiting=awaiting,
        overdue=overdue,
        evidence=evidence,
        leipzig=sum(f["city"] == "leipzig" for f in visible["lead partner"]),
    )


async def _service_calls(client: httpx.AsyncClient, rec: str, ev: str, token: str) -> dict[str, float]:
    """The services' share of the heavier pages: the reads they make, timed alone as the person
    (median of 3), so a slow page's time splits into the services' and the portal's own."""
    reads: dict[str, Callable[[], Any]] = {
        "evaluations /follow-ups, every page": lambda: _all(client, f"{ev}/follow-ups", token),
        "evaluations /progress?by=dimension": lambda: client.get(
            f"{ev}/progress", headers=_bearer(token), params={"by": "dimension"}
        ),
        "evaluations /progress/cells": lambda: client.get(f"{ev}/progress/cells", headers=_bearer(token)),
        "evaluations /progress/timeline": lambda: client.get(f"{ev}/progress/timeline", headers=_bearer(token)),
        "evaluations /follow-ups.xlsx": lambda: client.get(f"{ev}/follow-ups.xlsx", headers=_bearer(token)),
        "evaluations /follow-ups?awaiting_verification=true, every page": lambda: _all(
            client, f"{ev}/follow-ups", token, awaiting_verification="true"
        ),
        "recommendations /seminars, every page": lambda: _all(client, f"{rec}/seminars", token),
    }
    found = {}
    for name, read in reads.items():
        times = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            await read()
            times.append(time.perf_counter() - started)
        found[name] = round(statistics.median(times), 3)
    print(f"  service reads: {found}", flush=True)
    return found


# --- the checks: (complete or not, what was compared); None when a page has no cheap check ---------
Check = Callable[[httpx.Response, Truth, str], tuple[bool | None, str]]


def _public(number: int) -> Check:
    def check(answer: httpx.Response, truth: Truth, _: str) -> tuple[bool | None, str]:
        total = len(truth.published_newest_first)
        first = (number - 1) * PUBLIC_SEMINARS_PER_PAGE
        expected = [s["id"] for s in truth.published_newest_first[first : first + PUBLIC_SEMINARS_PER_PAGE]]
        seminars_part = answer.text.split('<section class="public-network"', 1)[0]
        shown = re.findall(rf'<section class="seminar" aria-labelledby="seminar-({UUID})"', seminars_part)
        articles = seminars_part.count('<article class="recommendation">')
        rows = seminars_part.count('<th scope="row">')
        says = f"Seminars {first + 1}–{first + len(expected)} of {total:,}"
        private = "Private note" in answer.text
        want_articles = sum(truth.in_force[s] for s in expected)
        want_rows = sum(truth.responses[s] for s in expected)
        ok = shown == expected and says in answer.text and articles == want_articles and rows == want_rows and not private
        return ok, (
            f"{len(shown)}/{len(expected)} seminars{'' if shown == expected else ' (not the newest)'}, "
            f"{articles}/{want_articles} recommendations, {rows}/{want_rows} responses, "
            f"{'says' if says in answer.text else 'does not say'} “{says}”{', PRIVATE evidence shown' if private else ''}"
        )

    return check


def _says(text: str) -> int | None:
    found = re.search(r'<p class="meta">([\d,]+) follow-ups?</p>', text)
    return int(found.group(1).replace(",", "")) if found else None


def _city(answer: httpx.Response, truth: Truth, who: str) -> tuple[bool | None, str]:
    want = len(truth.visible[who])
    says, links = _says(answer.text), len(set(re.findall(rf'href="/follow-ups/({UUID})"', answer.text)))
    return says == want and links == want, f"says {says} follow-ups, lists {links}, of {want}"


def _dashboard(answer: httpx.Response, truth: Truth, who: str) -> tuple[bool | None, str]:
    total = truth.overdue[who]
    table = answer.text.split('id="overdue-table"', 1)
    rows = table[1].split("</tbody>", 1)[0].count("<tr>") - 1 if len(table) > 1 else 0  # less the header's
    said = f"The {LISTED} longest overdue of {total:,}." in answer.text
    ok = rows == min(total, LISTED) and (said or total <= LISTED)
    return ok, f"overdue: {rows} rows of {total}{', says how many' if said else ''}"


def _export_check(rows: list[list[Any]], header: list[Any], truth: Truth, who: str) -> tuple[bool | None, str]:
    want = {f["id"] for f in truth.visible[who] if not f["closed"]}
    ids = [str(r[header.index("follow_up_id")]) for r in rows]
    empty = sum(1 for r in rows if not str(r[header.index("recommendation_text")] or "").strip())
    ok = set(ids) == want and len(ids) == len(want) and empty == 0
    return ok, f"{len(ids)} rows of {len(want)} open follow-ups, {empty} without the recommendation's text"


def _dashboard_csv(answer: httpx.Response, truth: Truth, who: str) -> tuple[bool | None, str]:
    header, *rows = list(csv.reader(io.StringIO(answer.text)))
    return _export_check([list(r) for r in rows], list(header), truth, who)


def _xlsx_rows(content: bytes) -> tuple[list[Any], list[list[Any]]]:
    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    return header, [r for r in rows if any(v not in (None, "") for v in r)]


def _dashboard_xlsx(answer: httpx.Response, truth: Truth, who: str) -> tuple[bool | None, str]:
    header, rows = _xlsx_rows(answer.content)
    return _export_check(rows, header, truth, who)


def _seminars(answer: httpx.Response, truth: Truth, _: str) -> tuple[bool | None, str]:
    links = len(set(re.findall(rf'href="/seminars/({UUID})"', answer.text)))
    return links == len(truth.seminars), f"lists {links} of {len(truth.seminars)} seminars"


def _seminar(answer: httpx.Response, truth: Truth, _: str) -> tuple[bool | None, str]:
    links = len(set(re.findall(rf'href="/recommendations/({UUID})"', answer.text)))
    return links == truth.seminar_recommendations, f"lists {links} of {truth.seminar_recommendations} recommendations"


def _followup(answer: httpx.Response, truth: Truth, who: str) -> tuple[bool | None, str]:
    text, titles = html.unescape(answer.text), truth.evidence[who]
    shown = sum(title in text for title in titles)
    named = truth.followup["recommendation_title"] in text
    return named and shown == len(titles), f"{'titled' if named else 'NOT titled'}, shows {shown} of {len(titles)} evidence items"


def _report(answer: httpx.Response, truth: Truth, _: str) -> tuple[bool | None, str]:
    items = answer.text.count('<div class="report-item">')
    empty = answer.text.count('<p class="recommendation-text"></p>')
    return items == truth.leipzig and empty == 0, f"{items} of {truth.leipzig} follow-ups, {empty} without text"


def _verification(answer: httpx.Response, truth: Truth, who: str) -> tuple[bool | None, str]:
    want, says = truth.awaiting[who], _says(answer.text)
    forms = len(set(re.findall(rf'action="/verification/({UUID})"', answer.text)))
    judges = who == "lead partner"
    ok = says == want and forms == (want if judges else 0)
    return ok, f"says {says} waiting of {want}, {forms} verdict forms ({'one each' if judges else 'none: only the lead judges'})"


def _followups_xlsx(answer: httpx.Response, truth: Truth, who: str) -> tuple[bool | None, str]:
    header, rows = _xlsx_rows(answer.content)
    want = {f["id"] for f in truth.visible[who]}
    ids = [str(r[header.index("id")]) for r in rows]
    return set(ids) == want and len(ids) == len(want), f"{len(ids)} rows of {len(want)} follow-ups"


def _none(answer: httpx.Response, truth: Truth, who: str) -> tuple[bool | None, str]:
    return None, "no content check"


CHECKS: dict[str, Check] = {
    "/": _public(1),
    "/?page=2": _public(2),
    "/city": _city,
    "/dashboard": _dashboard,
    "/dashboard.csv": _dashboard_csv,
    "/dashboard.xlsx": _dashboard_xlsx,
    "/seminars": _seminars,
    "/seminars/{seminar}": _seminar,
    "/follow-ups/{followup}": _followup,
    "/reports/leipzig": _report,
    "/verification": _verification,
    "/network": _none,
    "/spreadsheets/follow-ups.xlsx": _followups_xlsx,
}


# --- the pages -----------------------------------------------------------------------------------
async def _sign_in(client: httpx.AsyncClient, who: str) -> None:
    form = await client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf, "the sign-in page has no CSRF token"
    answer = await client.post("/login", data={"email": PEOPLE[who][0], "password": PASSWORD, "csrf_token": csrf.group(1)})
    assert answer.status_code == 303, f"{who} could not sign in: {answer.status_code} {answer.text[:300]}"


async def _measure(client: httpx.AsyncClient, page: str, truth: Truth, who: str) -> Measured:
    path = page.format(seminar=truth.seminar["id"], followup=truth.followup["id"])
    try:
        answer = await client.get(path)  # warm-up
        if answer.status_code != 200:  # a refusal's or an error page's time says nothing of the page's
            return Measured(page, path, who, answer.status_code, float("nan"), [], len(answer.content), False, "not 200")
        times = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            answer = await client.get(path)
            times.append(time.perf_counter() - started)
    except httpx.HTTPError as failure:
        return Measured(page, path, who, 0, float("nan"), [], 0, False, "no answer", repr(failure))
    seconds = statistics.median(times)
    if answer.status_code != 200:
        return Measured(page, path, who, answer.status_code, seconds, times, len(answer.content), False, "not 200")
    try:
        complete, check = CHECKS[page](answer, truth, who)
    except Exception as failure:  # a page the check cannot read is not complete; the run goes on
        complete, check = False, f"unreadable: {failure!r}"
    return Measured(page, path, who, 200, seconds, [round(t, 3) for t in times], len(answer.content), complete, check)


def _row(m: Measured) -> Row:
    quick = m.status == 200 and m.seconds < TARGET_S
    if m.status == 200:
        times = ", ".join(f"{t:.2f}" for t in m.times)
        figure = f"{m.seconds:.2f} s (median of {ROUNDS}; {times}), {m.bytes / 1024:,.0f} KiB; {m.check}"
    else:
        figure = f"HTTP {m.status}, {m.bytes:,} bytes" if m.status else f"no answer: {m.error}"
    return Row(
        f"8. portal {m.page}, as the {m.person} ({SEMINARS} seminars × {PER_SEMINAR})",
        figure,
        "—",
        "—",
        f"< {TARGET_S:g} s, content complete",
        quick and m.complete is not False,
    )


async def bench_pages(kafka: str, pg: str) -> tuple[list[Row], dict[str, Any]]:
    """Start the system, load a programme through the APIs, time the portal's pages as the lead
    partner and a Leipzig official; stop every process it started, whatever happens."""
    prefix = f"bp{uuid.uuid4().hex[:6]}"
    running: dict[str, ServiceProcess] = {}
    loaded = Loaded()
    measured: list[Measured] = []
    auth_url = with_database(pg, f"{prefix}_auth")
    try:
        phase = time.perf_counter()
        await asyncio.to_thread(_start, kafka, pg, prefix, running)
        rec, ev, portal = (running[name].url for name in ("recommendations", "evaluations", "portal"))
        settings = RecommendationsSettings(
            database_url=with_database(pg, f"{prefix}_recommendations"),
            auth_database_url=auth_url,
            kafka_bootstrap_servers=kafka,
            topic_prefix=prefix,
        )
        await load_demo_data(settings)  # partners, clusters and the demo seminars, through the service code
        await _people(auth_url)
        async with httpx.AsyncClient(timeout=300) as client:
            lead = await _token(auth_url, auth.Role.lead_partner)
            clusters = {c["city"]: c["slug"] for c in await _all(client, f"{rec}/clusters", lead)}
            officials = {city: await _token(auth_url, auth.Role.city_official, city) for city in clusters}
            loaded.seconds["start"] = time.perf_counter() - phase
            phase = time.perf_counter()
            await _load_seminars(client, rec, lead, clusters, loaded)
            loaded.seconds["seminars"] = time.perf_counter() - phase
            phase = time.perf_counter()
            await _wait_for_followups(client, rec, ev, lead)
            loaded.seconds["follow-ups opened"] = time.perf_counter() - phase
            phase = time.perf_counter()
            await _answer(client, ev, lead, officials, loaded)
            loaded.seconds["answers"] = time.perf_counter() - phase
            loaded.seconds["at rest"] = await _settle([svc.process.pid for svc in running.values()])
            print(f"  loaded: {asdict(loaded)}", flush=True)
            tokens = {"lead partner": lead, "Leipzig official": officials["leipzig"]}
            truth = await _truth(client, rec, ev, tokens)
            calls = {who: await _service_calls(client, rec, ev, token) for who, token in tokens.items()}
        for who in PEOPLE:
            async with httpx.AsyncClient(base_url=portal, timeout=600) as browser:
                await _sign_in(browser, who)
                for page in PAGES:
                    measured.append(found := await _measure(browser, page, truth, who))
                    print(f"  {who:16} {page:30} {found.seconds:7.3f} s {found.bytes:>10,} B  {found.check}", flush=True)
    finally:
        for svc in reversed(running.values()):
            svc.stop()
    scale = {
        "seminars": len(truth.seminars),
        "published": len(truth.published_newest_first),
        "follow_ups": len(truth.visible["lead partner"]),
        "leipzig_follow_ups": len(truth.visible["Leipzig official"]),
        "awaiting_verification": truth.awaiting,
        "overdue": truth.overdue,
    }
    return [_row(m) for m in measured], {
        "pages": {"scale": scale, "load": asdict(loaded), "service_calls_s": calls, "measured": [asdict(m) for m in measured]}
    }
