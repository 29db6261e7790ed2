"""The FastAPI dependencies every service's endpoints declare: its runtime, a database session,
the caller (a verified bearer token) and role checks.

`service_app()` puts the service's `Runtime` on the app; `get_runtime` is the one place that
reads it back, so every other dependency states what it needs through its parameters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.platform.auth import Principal, Role
from shared.platform.errors import Unauthorized
from shared.platform.runtime import Runtime
from shared.platform.settings import ServiceSettings


async def get_runtime(request: Request) -> Runtime:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request.
    runtime: Runtime = request.app.state.runtime  # set once, by service_app()
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
S = TypeVar("S", bound=ServiceSettings)


def settings_of(kind: type[S]) -> Any:
    """A dependency answering the service's own settings, `kind` (the runtime holds them as the
    platform's base class): `Annotated[Settings, settings_of(Settings)]`."""

    async def settings(runtime: RuntimeDep) -> S:
        if not isinstance(runtime.settings, kind):
            raise TypeError(f"this runtime carries {type(runtime.settings).__name__}, not {kind.__module__}.{kind.__name__}")
        return runtime.settings

    return Depends(settings)


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
bearer = HTTPBearer(auto_error=False, description="A token from `clusnet token create`")


async def current_principal(
    request: Request, runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    token = credentials.credentials.strip() if credentials is not None and credentials.scheme.lower() == "bearer" else ""
    if token and (known := runtime.tokens.cache.get(token)) is not None:
        return known  # verified recently: never throttled (see shared/platform/throttle.py)
    address = request.client.host if request.client else "unknown"
    await runtime.auth_failures.refuse_if_exhausted(address)
    try:
        if not token:
            raise Unauthorized("send `Authorization: Bearer <token>`; create one with `clusnet token create`")
        return await runtime.tokens.principal(token)
    except Unauthorized:
        await runtime.auth_failures.failed(address)
        raise


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def bearer_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """The request's bearer token itself, for work that outlives the request's check (a stream
    asks again whether it is still valid). Declared beside a role check, which refused a request without one."""
    return credentials.credentials.strip() if credentials is not None else ""


BearerToken = Annotated[str, Depends(bearer_token)]


def allow(*roles: Role, why: str) -> Any:
    """A dependency admitting only `roles`. As a dependency it answers 401/403 before the body is
    validated, so a caller who may not act learns nothing about the request's shape."""

    async def admitted(principal: PrincipalDep) -> Principal:
        principal.require(*roles, why=why)
        return principal

    return Depends(admitted)
