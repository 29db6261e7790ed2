"""Background jobs kept in the owning service's database, worked by a task in the service process.

An endpoint that has too much to do in one request (a 5,000-row import) stores a job (its kind,
parameters and input file) and answers 202 with the job's URL; `JobRunner` claims queued jobs one
at a time (`FOR UPDATE SKIP LOCKED`, so several instances share the queue without taking the same
job), runs the handler for the job's kind and records progress and the result. Progress is written
in its own short transactions, so it is visible while the job's own transaction is still open.

A job whose runner died (no heartbeat for `STALE_AFTER`) is taken again: handlers must be safe to
run twice (the imports are: their work is one transaction, and re-importing creates nothing new).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, LargeBinary, or_, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.platform.db import SessionFactory
from shared.platform.errors import DomainError, NotFound

log = logging.getLogger(__name__)
STALE_AFTER = timedelta(minutes=2)
Progress = Callable[[int, int], Awaitable[None]]  # (done, total)


def _now() -> datetime:
    return datetime.now(UTC)


class JobFields(SQLModel):
    """Columns of a service's job table (each service declares the table on its own metadata)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=60)
    status: str = Field(default="queued", max_length=20, index=True)  # queued | running | done | failed
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    file: bytes = Field(default=b"", sa_type=LargeBinary)
    actor_id: str
    total: int = 0
    done: int = 0
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    error: str | None = None
    created_at: datetime = Field(default_factory=_now)
    heartbeat_at: datetime = Field(default_factory=_now)
    finished_at: datetime | None = None


class JobPublic(SQLModel):
    id: uuid.UUID
    url: str = Field(description="Where to poll the job")
    kind: str
    status: str = Field(description="queued | running | done | failed")
    total: int
    done: int
    progress: float = Field(description="done / total, from 0 to 1")
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: JobFields, url: str) -> JobPublic:
        progress = 1.0 if job.status == "done" else (job.done / job.total if job.total else 0.0)
        fields = job.model_dump(exclude={"params", "file", "actor_id", "heartbeat_at"})
        return cls(**fields, url=url, progress=round(progress, 4))


async def job_or_404(session: AsyncSession, model: type[JobFields], job_id: uuid.UUID) -> JobFields:
    job = await session.get(model, job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist")
    return job


JobHandler = Callable[[JobFields, Progress], Awaitable[dict[str, Any]]]


class JobRunner:
    """Works the job table of one service, one job at a time (a worker of the service's Runtime)."""

    def __init__(self, sessions: SessionFactory, model: type[JobFields], handlers: Mapping[str, JobHandler], poll_s: float = 2.0):
        self.sessions, self.model, self.handlers, self.poll_s = sessions, model, handlers, poll_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Called after commits of this process, so a new job starts without waiting for a poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                job = await self.claim()
            except Exception:
                log.exception("claiming a job failed; retrying")
                job = None
            if job is not None:
                await self.work(job)
                continue
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waits, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()

    async def claim(self) -> JobFields | None:
        m = self.model
        async with self.sessions() as session:
            query = (
                select(m)
                .where(
                    or_(
                        col(m.status) == "queued",
                        (col(m.status) == "running") & (col(m.heartbeat_at) < _now() - STALE_AFTER),
                    )
                )
                .order_by(col(m.created_at))
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            job = (await session.exec(query)).first()
            if job is None:
                return None
            job.status, job.heartbeat_at = "running", _now()
            await session.commit()
            await session.refresh(job)
            session.expunge(job)
            return job

    async def progress(self, job_id: uuid.UUID, done: int, total: int) -> None:
        async with self.sessions() as session:
            statement = update(self.model).where(col(self.model.id) == job_id).values(done=done, total=total, heartbeat_at=_now())
            await session.execute(statement)
            await session.commit()

    async def work(self, job: JobFields) -> None:
        handler = self.handlers.get(job.kind)
        values: dict[str, Any]
        try:
            if handler is None:
                raise DomainError(f"no handler for jobs of kind {job.kind!r}")
            result = await handler(job, lambda done, total: self.progress(job.id, done, total))
            values = {"status": "done", "result": result}
        except DomainError as exc:  # the job's input was refused: the person reads why
            values = {"status": "failed", "error": exc.detail, "result": exc.extra or None}
        except Exception:
            log.exception("job %s (%s) failed", job.id, job.kind)
            values = {"status": "failed", "error": "the job could not complete; the error has been logged"}
        async with self.sessions() as session:
            # The uploaded file is dropped once worked: the job keeps its result, not people's data.
            finished = {"finished_at": _now(), "heartbeat_at": _now(), "file": b"", **values}
            statement = update(self.model).where(col(self.model.id) == job.id).values(**finished)
            await session.execute(statement)
            await session.commit()
