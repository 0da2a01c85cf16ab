"""Who is using the console: session cookie, CSRF token, login rate limit.

- The session cookie holds a random token (the database keeps its hash, see
  ``vetrina.conversations.consultants``): ``HttpOnly``, ``SameSite=Strict``, and ``Secure``
  with the ``__Host-`` prefix when ``VETRINA_CONSOLE_SECURE_COOKIES`` is on.
- Every state-changing request carries the session's CSRF token in ``X-CSRF-Token``
  (the console's script reads it from the page); the login form uses a double-submit
  cookie, as there is no session yet. A request whose ``Origin`` is another site is
  refused as well.
- Failed logins are limited per client address in this process (:class:`LoginLimiter`)
  and per account in the database (lockout after repeated failures).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

from vetrina.conversations.consultants import OpenSession, session_for
from vetrina.storage.database import Database

LOGIN_CSRF_COOKIE = "vetrina_login_csrf"
CSRF_HEADER = "X-CSRF-Token"


@dataclass
class LoginLimiter:
    """At most ``attempts`` failed logins per client address within ``window`` seconds."""

    attempts: int = 10
    window: float = 300.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, client: str) -> deque[float]:
        now = time.monotonic()
        failures = self._failures.setdefault(client, deque())
        while failures and now - failures[0] > self.window:
            failures.popleft()
        if not failures:
            self._failures.pop(client, None)
        return failures

    def blocked(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        failures = self._recent(client)
        if len(failures) < self.attempts:
            return 0.0
        return max(1.0, self.window - (time.monotonic() - failures[0]))

    def failed(self, client: str) -> None:
        self._recent(client)
        self._failures.setdefault(client, deque()).append(time.monotonic())


@dataclass(frozen=True)
class CookiePolicy:
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
    return secrets.token_urlsafe(32)


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())  # type: ignore[union-attr]


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


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
        raise web.HTTPForbidden(
            text='{"error": "cross-site request refused"}', content_type="application/json"
        )
    if not same(request.headers.get(CSRF_HEADER), session.csrf_token):
        raise web.HTTPForbidden(
            text='{"error": "missing or wrong CSRF token"}', content_type="application/json"
        )
