"""Signed identity tokens: how the retailer's website tells the chat who is logged in.

The site signs a short-lived JWT with the secret it shares with Vetrina
(``VETRINA_IDENTITY_SECRET``; HS256 = HMAC-SHA256) and hands it to the widget. A valid
token joins the web session to the shop account's customer; anything else (expired,
tampered, signed with another key or algorithm, malformed) is refused and changes nothing.
JWT rather than a home-made format because every web stack already has a library for it;
the claims are described in ``docs/identity-token.md``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import jwt

ALGORITHM = "HS256"
MAX_TOKEN_CHARS = 4096
# A token valid for longer than this is refused: it is meant for one page view.
MAX_LIFETIME = 24 * 3600
LEEWAY = 30  # seconds of clock difference between the site and Vetrina


class IdentityTokenError(ValueError):
    """A token that cannot be used; ``code`` is what the widget is told."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


EXPIRED = "identity_token_expired"
INVALID = "identity_token_invalid"


@dataclass(frozen=True)
class ShopIdentity:
    """The logged-in shopper the site vouches for."""

    account_id: str
    expires_at: datetime
    name: str | None = None
    email: str | None = None
    language: str | None = None


def _text(claims: dict[str, Any], name: str, limit: int) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise IdentityTokenError(INVALID, f"claim {name!r} must be a short string")
    return value.strip()


def verify_identity_token(secret: str, token: object, *, now: float | None = None) -> ShopIdentity:
    """The shop identity in ``token``, or :class:`IdentityTokenError`."""
    if not secret:
        raise IdentityTokenError(INVALID, "identity tokens are not enabled (no secret)")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise IdentityTokenError(INVALID, "the token is missing or too long")
    current = time.time() if now is None else now
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp"], "verify_exp": False},
        )
    except jwt.InvalidTokenError as error:
        raise IdentityTokenError(INVALID, f"bad token: {error}") from None
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise IdentityTokenError(INVALID, "claim 'exp' must be a number")
    if exp + LEEWAY < current:
        raise IdentityTokenError(EXPIRED, "the token has expired")
    if exp - current > MAX_LIFETIME:
        raise IdentityTokenError(INVALID, "the token is valid for too long (max 24 hours)")
    account = claims.get("sub")
    if isinstance(account, int) and not isinstance(account, bool):
        account = str(account)
    if not isinstance(account, str) or not account.strip() or len(account) > 200:
        raise IdentityTokenError(INVALID, "claim 'sub' must be the shop account id")
    language = _text(claims, "lang", 8)
    return ShopIdentity(
        account_id=account.strip(),
        expires_at=datetime.fromtimestamp(exp, timezone.utc),
        name=_text(claims, "name", 200),
        email=_text(claims, "email", 200),
        language=language.lower()[:2] if language else None,
    )


def issue_identity_token(
    secret: str,
    account_id: str,
    *,
    ttl: int = 3600,
    name: str | None = None,
    email: str | None = None,
    language: str | None = None,
    now: float | None = None,
) -> str:
    """A token as the site makes it (reference for site developers, used by tests)."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": account_id, "iat": issued, "exp": issued + ttl}
    for key, value in (("name", name), ("email", email), ("lang", language)):
        if value:
            claims[key] = value
    return jwt.encode(claims, secret, algorithm=ALGORITHM)
