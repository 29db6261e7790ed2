"""`make run` without Docker (`python -m provision.run`): the whole system on this machine, in the foreground.

Kafka on 127.0.0.1:9092 and PostgreSQL on 127.0.0.1:5432 (the settings' defaults) unless
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL say otherwise; an SMTP sink that writes each mail to
.run/mail/; the three services on 8001-8003; the CLUSNET demo data; a token per role.

Every service process is supervised: one that exits is started again, with a line on the console.
`WORKERS=N` (`make run WORKERS=2`, or `--workers 2`) runs each API with RUN_WORKERS=false plus N
`clusnet worker <service>` processes per service, as the compose file does; 0 (the default) keeps
the workers inside the API processes (three processes in all, kinder to a laptop).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from contextlib import ExitStack
from functools import partial
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

from provision import ProvisionError, kafka_bootstrap, postgres_url
from provision.processes import DEFAULT_PORTS, SERVICES, ServiceProcess, launch_service, launch_worker, service_env, wait_ready
from provision.supervisor import Supervisor
from provision.system import port_in_use
from shared.platform import auth
from shared.platform.db import with_database

RUN_DIR = Path(".run")
SMTP_PORT = 1025


def log_to_files(log_dir: Path) -> Path:
    """INFO and above of this process (provisioning, the SMTP sink) into a file; the console keeps
    the banner and warnings only. The services write their own logs beside it."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "run.log"
    to_file = logging.FileHandler(path)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    to_console = logging.StreamHandler()
    to_console.setLevel(logging.WARNING)
    logging.basicConfig(level=logging.INFO, handlers=[to_file, to_console], force=True)
    return path


def run_system(workers: int = 0) -> None:
    taken = [f"{name} ({port})" for name, port in [*DEFAULT_PORTS.items(), ("SMTP sink", SMTP_PORT)] if port_in_use(port)]
    if taken:
        sys.exit(f"make run: port(s) already taken on 127.0.0.1: {', '.join(taken)}. Stop what uses them and try again.")
    log_to_files(RUN_DIR / "logs")
    with ExitStack() as stack:
        try:
            print("starting PostgreSQL and Kafka…", flush=True)
            pg = stack.enter_context(postgres_url(port=5432))
            kafka = stack.enter_context(kafka_bootstrap(port=9092))
        except ProvisionError as exc:
            sys.exit(f"make run: {exc}")
        mail_dir = RUN_DIR / "mail"
        smtp = Controller(Mailbox(mail_dir), hostname="127.0.0.1", port=SMTP_PORT)
        smtp.start()
        stack.callback(smtp.stop)
        supervisor = Supervisor()
        stack.callback(supervisor.stop_all)
        services = start_supervised(supervisor, kafka, pg, workers, RUN_DIR / "logs", SMTP_PORT=str(SMTP_PORT))
        wait_ready(services)
        print("demo data:", asyncio.run(load_all_demo_data(pg)), flush=True)
        tokens = asyncio.run(_demo_tokens(with_database(pg, "clusnet_auth")))
        _print_welcome(kafka, pg, mail_dir, tokens)
        if workers:
            print(f"  {workers} worker process(es) per service (clusnet worker); the APIs run with RUN_WORKERS=false\n")
        supervisor.watch(_ctrl_c())
        print("\nstopping…", flush=True)


def start_supervised(
    supervisor: Supervisor,
    kafka: str,
    pg: str,
    workers: int,
    log_dir: Path,
    ports: dict[str, int] = DEFAULT_PORTS,
    db_prefix: str = "clusnet",
    **extra: str,
) -> list[ServiceProcess]:
    """The three APIs and, if `workers`, that many worker processes per service, all supervised."""
    if workers:
        # enough partitions for every worker of a group to get some (the first process creates the topics)
        extra = {"TOPIC_PARTITIONS": str(max(3, workers)), **extra}
    services = []
    for name in SERVICES:
        api_env = service_env(name, kafka, pg, db_prefix, **extra, **({"RUN_WORKERS": "false"} if workers else {}))
        log = log_dir / f"{name}.log"
        api = supervisor.start(name, partial(launch_service, name, ports[name], api_env, log))
        services.append(ServiceProcess(name=name, port=ports[name], process=api.process, log=log))
        for i in range(1, workers + 1):
            worker_env = service_env(name, kafka, pg, db_prefix, **extra)
            wlog = log_dir / f"{name}-worker-{i}.log"
            supervisor.start(f"{name}-worker-{i}", partial(launch_worker, name, worker_env, wlog))
    return services


async def load_all_demo_data(pg: str) -> dict[str, int]:
    """Stakeholders first, so that the seminars' events find their subscriptions."""
    from services.notifications.config import Settings as NotificationsSettings
    from services.notifications.seed import load_demo_stakeholders
    from services.recommendations.config import Settings as RecommendationsSettings
    from services.recommendations.seed import load_demo_data

    auth_url = with_database(pg, "clusnet_auth")
    people = await load_demo_stakeholders(
        NotificationsSettings(database_url=with_database(pg, "clusnet_notifications"), auth_database_url=auth_url)
    )
    seminars = await load_demo_data(
        RecommendationsSettings(database_url=with_database(pg, "clusnet_recommendations"), auth_database_url=auth_url)
    )
    return {**people, **seminars}


async def _demo_tokens(auth_url: str) -> dict[str, str]:
    from shared.platform.db import make_engine, make_session_factory

    engine = make_engine(auth_url, pool_size=1)
    tokens = {}
    async with make_session_factory(engine)() as session:
        for label, role, city in (
            ("admin", auth.Role.admin, None),
            ("lead partner (Lyon)", auth.Role.lead_partner, None),
            ("city official of Leipzig", auth.Role.city_official, "leipzig"),
            ("integration", auth.Role.integration, None),
        ):
            tokens[label] = (await auth.create_token(session, role, city, label=f"make run: {label}"))[1]
    await engine.dispose()
    return tokens


def _print_welcome(kafka: str, pg: str, mail_dir: Path, tokens: dict[str, str]) -> None:
    lines = [
        "",
        "CLUSNET follow-up tracker is running (Ctrl-C stops everything):",
        *(f"  {name:<16} http://127.0.0.1:{port}/docs" for name, port in DEFAULT_PORTS.items()),
        f"  Kafka            {kafka}",
        f"  PostgreSQL       {pg.replace('+asyncpg', '')}",
        f"  mail (SMTP sink) {mail_dir.resolve()}/new/  (one file per email)",
        f"  logs             {(RUN_DIR / 'logs').resolve()}/",
        "",
        "Tokens for trying it out (Authorization: Bearer …):",
        *(f"  {k:<26} {v}" for k, v in tokens.items()),
        "",
        "Try:",
        f"  curl -H 'Authorization: Bearer {tokens['city official of Leipzig']}' http://127.0.0.1:8002/follow-ups",
        "",
    ]
    print("\n".join(lines), flush=True)


def _ctrl_c() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the whole CLUSNET system on this machine")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WORKERS") or 0),
        help="worker processes per service (default: $WORKERS or 0, the workers inside the APIs)",
    )
    run_system(parser.parse_args().workers)
