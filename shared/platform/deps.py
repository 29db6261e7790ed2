"""The FastAPI dependencies every service's endpoints declare: its runtime, a database session,
the caller (a verified bearer token) and role checks.

`service_app()` puts the service's `Runtime` on the app; `get_runtime` is the one place that
reads it back, so every other dependency states what it needs through its parameters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.platform.auth import Principal, Role
from shared.platform.errors import Unauthorized
from shared.platform.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime  # set once, by service_app()
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
bearer = HTTPBearer(auto_error=False, description="A token from `clusnet token create`")


async def current_principal(
    runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials.strip():
        raise Unauthorized("send `Authorization: Bearer <token>`; create one with `clusnet token create`")
    return await runtime.tokens.principal(credentials.credentials.strip())


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def allow(*roles: Role, why: str) -> Any:
    """A dependency admitting only `roles`. As a dependency it answers 401/403 before the body is
    validated, so a caller who may not act learns nothing about the request's shape."""

    async def admitted(principal: PrincipalDep) -> Principal:
        principal.require(*roles, why=why)
        return principal

    return Depends(admitted)
