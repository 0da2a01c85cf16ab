"""What every HTTP surface of the gateway shares: one error shape, the bearer guard,
bounded JSON bodies and path/query numbers that cannot overflow.

Every JSON API (customers, inventory, the console's) answers errors as::

    {"error": {"code": "unknown_customer", "message": "...", "details": {...}}}

``code`` is stable (clients branch on it), ``message`` is for people, ``details`` holds
what the code needs (the bad items of a batch, the owner of a conflict) and is ``{}``
otherwise. Handlers raise :class:`ApiError`; :func:`errors` turns it, and aiohttp's own
4xx/5xx exceptions on API paths, into that shape, so no handler writes an error dict.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from vetrina.customers.errors import (
    AlreadyUndone,
    CustomerError,
    CustomerGone,
    SelfMerge,
    UndoBlocked,
    UnknownCustomer,
    UnknownMerge,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_JSON_BODY = 64 * 1024
MAX_JSON_DEPTH = 32
# Database ids are 64-bit at most; a longer number is no id of ours (and would
# overflow the driver: issue 17, part 5).
MAX_ID = 2**63 - 1

# Paths whose errors are JSON; others (pages, webhooks) keep aiohttp's text answers.
JSON_PREFIXES = ("/api/", "/console/api/")

_CODES = {
    400: "bad_request", 401: "unauthorised", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media",
    422: "invalid", 429: "too_many_requests", 500: "internal", 502: "bad_gateway",
    503: "unavailable",
}


class ApiError(Exception):
    """An answer other than success, with its stable ``code``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


def dumps(data: Any) -> str:
    """JSON with datetimes and other plain values as text."""
    return json.dumps(data, default=str, ensure_ascii=False)


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=dumps)


def error_response(error: ApiError) -> web.Response:
    return json_response(
        error_body(error.code, error.message, error.details), error.status, error.headers or None
    )


def wants_json_errors(request: web.Request) -> bool:
    return request.path.startswith(JSON_PREFIXES)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """:class:`ApiError` anywhere, and aiohttp's HTTP errors on API paths, in one shape."""
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error)
    except web.HTTPException as error:
        if error.status < 400 or not wants_json_errors(request):
            raise
        if error.content_type == "application/json" and error.text:
            raise  # already in our shape
        headers = {
            name: value for name, value in error.headers.items()
            if name in ("Allow", "Retry-After", "WWW-Authenticate")
        }
        return json_response(
            error_body(_CODES.get(error.status, "error"), error.reason), error.status, headers
        )


def bearer_matches(request: web.Request, token: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>``, compared in constant
    time; never for an empty token (an endpoint without one is off, not open)."""
    if not token:
        return False
    # Header values arrive as str decoded from latin-1; compare bytes, never fail on them.
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    presented = given.strip().encode("utf-8", "surrogateescape")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented, token.encode("utf-8"))


def require_bearer(request: web.Request, token: str, realm: str, variable: str) -> None:
    """The request carries ``Authorization: Bearer <token>`` (:func:`bearer_matches`).
    503 while no token is configured (the endpoint is off), 401 when missing or wrong."""
    if not token:
        raise ApiError(503, "disabled", f"this endpoint is disabled: set {variable}")
    if not bearer_matches(request, token):
        log.warning("%s: bad or missing bearer token from %s", realm, request.remote)
        raise ApiError(
            401, "unauthorised", "missing or wrong bearer token",
            headers={"WWW-Authenticate": f'Bearer realm="{realm}"'},
        )


def _shape(value: Any, limit: int) -> tuple[int, bool]:
    """Nesting depth of parsed JSON (stopping once past ``limit``), and whether any text
    in it holds a NUL (PostgreSQL cannot store one: it would be a 500 later)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        if isinstance(item, str):
            if "\x00" in item:
                return deepest, True
        elif isinstance(item, dict):
            if any("\x00" in key for key in item):
                return deepest, True
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest, False


async def read_json(request: web.Request, *, limit: int = MAX_JSON_BODY) -> Any:
    """The parsed body: 413 above ``limit`` bytes, 400 when not JSON or nested too deep."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"the body is larger than {limit} bytes")
    raw = await request.read()  # bounded by the app's client_max_size
    if len(raw) > limit:
        raise ApiError(413, "too_large", f"the body is larger than {limit} bytes")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "bad_json", "the body is not JSON") from None
    depth, nul = _shape(body, MAX_JSON_DEPTH)
    if depth > MAX_JSON_DEPTH:
        raise ApiError(400, "bad_json", f"the body is nested deeper than {MAX_JSON_DEPTH}")
    if nul:
        raise ApiError(400, "bad_json", "the body holds a NUL character")
    return body


async def read_object(request: web.Request, *, limit: int = MAX_JSON_BODY) -> dict[str, Any]:
    body = await read_json(request, limit=limit)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return body


STORE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")


def store_code(raw: object) -> str | None:
    """A store code as given (trimmed, upper case) if it can be one, else ``None``."""
    if not isinstance(raw, str):
        return None
    code = raw.strip().upper()
    return code if STORE_CODE.match(code) else None


def plain_text(raw: str, limit: int) -> str:
    """Free text from a query, without NULs (PostgreSQL refuses them), at most ``limit``."""
    return raw.replace("\x00", "").strip()[:limit]


def parse_id(raw: str | None, what: str = "id") -> int:
    """A database id from a path or query: a plain positive number that fits 64 bits,
    else 404 (no such thing can exist)."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise ApiError(404, "not_found", f"no such {what}")
    value = int(raw)
    if not 0 < value <= MAX_ID:
        raise ApiError(404, "not_found", f"no such {what}")
    return value


def body_id(value: Any, name: str) -> int:
    """An id given in a JSON body: a whole number (or its digits) that fits 64 bits, else 400."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(400, "invalid", f"{name} must be a number")
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not 0 < int(text) <= MAX_ID:
        raise ApiError(400, "invalid", f"{name} must be a number")
    return int(text)


_CUSTOMER_STATUS = {
    UnknownCustomer: 404, UnknownMerge: 404, CustomerGone: 409, AlreadyUndone: 409,
    UndoBlocked: 409, SelfMerge: 422,
}


def customer_error(error: CustomerError) -> ApiError:
    """A customer-profile error as an API answer: its own ``code``, a fitting status."""
    return ApiError(_CUSTOMER_STATUS.get(type(error), 422), error.code, str(error))
