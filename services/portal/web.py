"""The portal's per-process state and what every page needs: who is there, in which language,
the CSRF token, and rendering (with the security headers every page carries)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from services.portal import i18n, service
from services.portal.clients import Services
from services.portal.config import Settings
from services.portal.live import LiveFeed
from shared.platform import auth
from shared.platform.db import SessionFactory
from shared.platform.http import ReadinessCheck

SESSION_COOKIE = "clusnet_session"
CSRF_COOKIE = "clusnet_csrf"  # anonymous visitors' CSRF token (double submit), until they sign in
LANGUAGE_COOKIE = "clusnet_lang"
# htmx is served by the portal itself; no inline script or style anywhere, so the policy is strict.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass
class PortalState:
    """Built in the lifespan, never at import: engines, the one httpx client, catalogues."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    auth_engine: AsyncEngine
    auth_sessions: SessionFactory
    http: httpx.AsyncClient
    services: Services
    pages: i18n.Pages
    checks: list[ReadinessCheck] = field(default_factory=list)
    live: LiveFeed = field(default_factory=LiveFeed)  # follow-up events for open pages (live.py)
    _public_token: tuple[str, datetime] | None = None

    async def public_reader(self) -> str:
        """The token the public pages read with: role `integration`, which the services show
        public evidence only. Minted per process, renewed before it expires."""
        now = datetime.now(UTC)
        if self._public_token is None or self._public_token[1] - now < timedelta(hours=1):
            async with self.auth_sessions() as session:
                row, text = await auth.create_token(
                    session, auth.Role.integration, label="portal public pages", expires_in=timedelta(days=1)
                )
            assert row.expires_at is not None
            self._public_token = (text, row.expires_at)
        return self._public_token[0]


class NotSignedIn(Exception):
    """The page needs a signed-in person: the handler redirects to /login."""


class CsrfRefused(Exception):
    """A form came without this browser's CSRF token."""


def get_state(request: Request) -> PortalState:
    """The portal's state (routes declare `StateDep`; exception handlers and `render` call this)."""
    return get_state_of(request.app)


def get_state_of(app: FastAPI) -> PortalState:
    """The one place that reads the portal's state off the app (set once, in main.py's lifespan)."""
    state: PortalState = app.state.portal
    return state


StateDep = Annotated[PortalState, Depends(get_state)]


async def portal_session(state: StateDep) -> Any:
    async with state.sessions() as session:
        yield session


PortalDbDep = Annotated[AsyncSession, Depends(portal_session)]


@dataclass
class Visitor:
    signed_in: service.SignedIn | None
    language: str
    csrf_token: str
    new_csrf_cookie: bool = False

    @property
    def bearer(self) -> str:
        if self.signed_in is None:
            raise NotSignedIn()
        return self.signed_in.bearer

    def require_signed_in(self) -> service.SignedIn:
        if self.signed_in is None:
            raise NotSignedIn()
        return self.signed_in

    def check_csrf(self, sent: str | None) -> None:
        if not sent or not hmac.compare_digest(sent.encode(), self.csrf_token.encode()):
            raise CsrfRefused()


async def visitor(request: Request, state: StateDep, db: PortalDbDep) -> Visitor:
    signed_in = None
    if cookie := request.cookies.get(SESSION_COOKIE):
        signed_in = await service.recognise(db, state.auth_sessions, state.settings, cookie[:200])
    if signed_in is not None:
        return Visitor(signed_in=signed_in, language=signed_in.session.language, csrf_token=signed_in.csrf_token)
    language = request.cookies.get(LANGUAGE_COOKIE) or ""
    if language not in i18n.LANGUAGES:
        language = i18n.negotiate(request.headers.get("accept-language"))
    anonymous_token = request.cookies.get(CSRF_COOKIE, "")
    if len(anonymous_token) < 32:
        return Visitor(None, language, secrets.token_urlsafe(32), new_csrf_cookie=True)
    return Visitor(None, language, anonymous_token[:64])


VisitorDep = Annotated[Visitor, Depends(visitor)]


def secure_cookies(request: Request, settings: Settings) -> bool:
    return settings.cookie_secure if settings.cookie_secure is not None else request.url.scheme == "https"


def with_headers(request: Request, response: Response, who: Visitor) -> Response:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"  # pages are personal: never cached
    if who.new_csrf_cookie:
        state = get_state(request)
        response.set_cookie(
            CSRF_COOKIE, who.csrf_token, httponly=True, samesite="lax", secure=secure_cookies(request, state.settings)
        )
    return response


def render(request: Request, who: Visitor, template: str, status_code: int = 200, **context: Any) -> Response:
    state = get_state(request)
    person = who.signed_in.session if who.signed_in else None
    html = state.pages.render(
        who.language,
        template,
        person=person,
        csrf_token=who.csrf_token,
        path=request.url.path,
        **context,
    )
    return with_headers(request, HTMLResponse(html, status_code=status_code), who)


def redirect(request: Request, who: Visitor, to: str) -> Response:
    """303 after a POST: the browser GETs the next page (no resubmission on reload)."""
    return with_headers(request, RedirectResponse(to, status_code=303), who)


def safe_next(target: str | None, default: str) -> str:
    """Only paths on this site: never `//host` or `https://…` (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
