"""A small TCP fault proxy (asyncio): forwards 127.0.0.1:<port> to an upstream address and, on
demand, delays every chunk (latency) or cuts every connection and refuses new ones (a partition).

Written here rather than installed (Toxiproxy is a Go binary we would have to download): the
harness needs two faults only, and 80 lines of asyncio are easier to trust than a new daemon.
"""

from __future__ import annotations

import asyncio
import contextlib

from provision.system import free_port

CHUNK = 65536


class FaultProxy:
    def __init__(self, upstream_port: int, port: int | None = None, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port or free_port()
        self.latency_s = 0.0
        self.cut = False
        self.connections = 0  # accepted while healthy, for the harness's own checks
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self.sever()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def sever(self) -> None:
        """Close every live connection at once (both sides see a reset/EOF)."""
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    def partition(self) -> None:
        """Cut: live connections dropped, new ones closed on arrival, until `heal()`."""
        self.cut = True
        self.sever()

    def heal(self) -> None:
        self.cut, self.latency_s = False, 0.0

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.cut:
            client_writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.transport.abort()
            return
        self.connections += 1
        self._writers.update((client_writer, up_writer))
        try:
            await asyncio.gather(self._pipe(client_reader, up_writer), self._pipe(up_reader, client_writer))
        finally:
            for writer in (client_writer, up_writer):
                self._writers.discard(writer)
                writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(CHUNK):
                if self.cut:
                    return
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()  # one side gone: the other goes too
