"""`Idempotency-Key` for creating POSTs: a retry returns the first answer and creates nothing new.

The key is scoped to the caller's token; the same key with another body is refused (422).
A transaction-level advisory lock on (caller, key) makes a concurrent retry wait for the first
request and then replay its answer, instead of failing on the unique constraint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, func, select
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.platform.errors import Invalid

MAX_KEY_LENGTH = 200


class IdempotencyFields(SQLModel):
    id: int | None = Field(default=None, primary_key=True)
    actor_id: str = Field(max_length=64)
    key: str = Field(max_length=MAX_KEY_LENGTH)
    request_hash: str = Field(max_length=64)
    body: dict[str, Any] = Field(sa_type=JSON)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


async def run_once(
    session: AsyncSession,
    model: type[IdempotencyFields],
    *,
    actor_id: str,
    key: str | None,
    request: Any,
    create: Callable[[], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Run `create` (which must not commit) unless this caller already sent this key."""
    if key is None:
        return await create()
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise Invalid(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"{actor_id}|{key}"))))
    query = select(model).where(model.actor_id == actor_id, model.key == key)  # type: ignore[arg-type]
    previous = (await session.execute(query)).scalar_one_or_none()
    if previous is not None:
        if previous.request_hash != digest:
            raise Invalid("this Idempotency-Key was already used with a different request body")
        return previous.body
    body = await create()
    session.add(model(actor_id=actor_id, key=key, request_hash=digest, body=body))
    return body
