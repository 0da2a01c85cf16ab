"""Who is using the console: session cookie, CSRF token, login rate limit.

- The session cookie holds a random token (the database keeps its hash, see
  ``vetrina.conversations.consultants``): ``HttpOnly``, ``SameSite=Strict``, and ``Secure``
  with the ``__Host-`` prefix when ``VETRINA_CONSOLE_SECURE_COOKIES`` is on.
- Every state-changing request carries the session's CSRF token in ``X-CSRF-Token``
  (the console's script reads it from the page); the login form uses a double-submit
  cookie, as there is no session yet. A request whose ``Origin`` is another site is
  refused as well.
- Failed logins are limited by :mod:`vetrina.gateway.console.login_guard`.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from vetrina.conversations.consultants import OpenSession, session_for
from vetrina.gateway.http import ApiError
from vetrina.storage.database import Database

LOGIN_CSRF_COOKIE = "vetrina_login_csrf"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class CookiePolicy:
    """The session cookie's name and flags (``Secure`` and ``__Host-`` behind HTTPS)."""

    secure: bool

    @property
    def session_name(self) -> str:
        return "__Host-vetrina_console" if self.secure else "vetrina_console"

    def set_session(self, response: web.StreamResponse, token: str) -> None:
        response.set_cookie(
            self.session_name, token, path="/", httponly=True, secure=self.secure,
            samesite="Strict", max_age=12 * 3600,
        )

    def clear_session(self, response: web.StreamResponse) -> None:
        response.del_cookie(self.session_name, path="/")

    def set_login_csrf(self, response: web.StreamResponse, value: str) -> None:
        response.set_cookie(
            LOGIN_CSRF_COOKIE, value, path="/console/login", httponly=True,
            secure=self.secure, samesite="Strict", max_age=3600,
        )


def new_csrf() -> str:
    """A fresh random token for a form or a session."""
    return secrets.token_urlsafe(32)


def same(a: str | None, b: str | None) -> bool:
    """Two non-empty secrets are equal (constant time)."""
    if not a or not b:
        return False
    return hmac.compare_digest(
        a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape")
    )


def foreign_origin(request: web.Request) -> bool:
    """The request names an ``Origin`` other than this host (a cross-site request)."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc != request.host


async def current_session(
    request: web.Request, db: Database, cookies: CookiePolicy
) -> OpenSession | None:
    return await session_for(db, request.cookies.get(cookies.session_name, ""))


def check_csrf(request: web.Request, session: OpenSession) -> None:
    if foreign_origin(request):
        raise ApiError(403, "cross_site", "cross-site request refused")
    if not same(request.headers.get(CSRF_HEADER), session.csrf_token):
        raise ApiError(403, "csrf", "missing or wrong CSRF token")


async def require_session(
    request: web.Request, db: Database, cookies: CookiePolicy, *, page: bool = False
) -> OpenSession:
    """The logged-in session (and, for a change, its CSRF token checked): else 401, or
    the login page for a page."""
    session = await current_session(request, db, cookies)
    if session is None:
        if page:
            raise web.HTTPFound("/console/login")
        raise ApiError(401, "login_required", "log in first")
    if request.method not in ("GET", "HEAD"):
        check_csrf(request, session)
    return session
