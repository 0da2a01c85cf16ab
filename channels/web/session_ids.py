"""Web chat session ids that only the server can make.

A session id is the web chat's only credential: whoever presents it reads that chat's
history, receives its replies and writes into it. So the server issues every id,
``<public>.<signature>``: a random public part and an HMAC-SHA256 of it under a server
secret. A client-proposed id that does not verify starts a new session. Only the public
part is stored (the web channel identity's ``external_id``, shown to consultants and in
the customer API, and in the logs): knowing it does not let anyone open the chat, since
the signature cannot be made without the secret. The secret is ``VETRINA_WEB_SESSION_SECRET``; when
it is not set, one random secret is generated once and kept in the database
(``gateway_secrets``), so every gateway instance and every restart accept the same ids.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vetrina.storage.database import Database
from vetrina.storage.secrets import GatewaySecret

_FORMAT = re.compile(r"^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$")
SECRET_NAME = "web_session"  # noqa: S105  (the name of the stored secret, not a secret)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class SessionIds:
    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("the web session secret must have at least 32 characters")
        self._key = secret.encode()

    def _sign(self, nonce: str) -> str:
        digest = hmac.new(self._key, b"vetrina-web-session:" + nonce.encode(), hashlib.sha256)
        return _b64(digest.digest()[:16])

    def issue(self) -> str:
        nonce = _b64(secrets.token_bytes(16))
        return f"{nonce}.{self._sign(nonce)}"

    @staticmethod
    def public(session_id: str) -> str:
        """The part of a (valid) session id that is stored and may be shown."""
        return session_id.split(".", 1)[0]

    def client_key(self, address: str) -> str:
        """A keyed hash of a client address: lets the assistant limit what one address
        asks for (link codes) without the address itself reaching it."""
        digest = hmac.new(self._key, b"vetrina-client:" + address.encode(), hashlib.sha256)
        return _b64(digest.digest()[:18])

    def valid(self, candidate: object) -> bool:
        if not isinstance(candidate, str) or not _FORMAT.match(candidate):
            return False
        nonce, signature = candidate.split(".")
        return hmac.compare_digest(signature, self._sign(nonce))


async def stored_secret(db: Database) -> str:
    """The database-kept session secret, made on first use (instances racing: one wins)."""
    for _ in range(3):
        async with db.sessions() as session:
            value = await session.scalar(
                select(GatewaySecret.value).where(GatewaySecret.name == SECRET_NAME)
            )
        if value:
            return str(value)
        try:
            async with db.transaction() as session:
                session.add(GatewaySecret(name=SECRET_NAME, value=secrets.token_urlsafe(48)))
        except IntegrityError:
            continue  # another instance made it first: read theirs
    raise RuntimeError("could not read or create the web session secret")


async def session_ids(db: Database, configured: str) -> SessionIds:
    return SessionIds(configured or await stored_secret(db))
