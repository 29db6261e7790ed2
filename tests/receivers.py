"""Real peers on loopback for the notifications tests: an SMTP server and a webhook receiver."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from provision.system import free_port


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        raw = envelope.content  # type: ignore[attr-defined]
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))
        return "250 OK"


@asynccontextmanager
async def smtp_server(port: int | None = None) -> AsyncIterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), port or free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@dataclass
class Receiver:
    """Records every request; answers the statuses queued in `script`, then 200."""

    port: int
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    arrived_at: list[float] = field(default_factory=list)  # time.perf_counter() of each request
    gate: asyncio.Event | None = None  # when given, every answer waits until it is set (a hanging receiver)
    delay_s: float = 0.0  # every answer waits this long (a slow receiver)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def endpoint(self, request: Request) -> Response:
        try:
            body = await request.body()
        except ClientDisconnect:  # the sender died mid-request (a worker killed by the fault harness): nothing came
            return Response(status_code=400)
        self.requests.append(({k.lower(): v for k, v in request.headers.items()}, body))
        self.arrived_at.append(time.perf_counter())
        if self.gate is not None:
            await self.gate.wait()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status, headers = self.script.pop(0) if self.script else (200, {})
        return Response(status_code=status, headers=headers)


@asynccontextmanager
async def webhook_receiver(port: int | None = None) -> AsyncIterator[Receiver]:
    receiver = Receiver(port=port or free_port())
    app = Starlette(routes=[Route("/hook", receiver.endpoint, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=receiver.port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
