"""Store consultants: accounts, the stores they serve, presence, and console login sessions.

A consultant signs in to the console with email and password (argon2id hashes via
argon2-cffi). Failed attempts lock the account for ``LOCKOUT`` after ``MAX_FAILURES`` in
a row, in the database, so several gateway instances share the count. A login session
is a random token kept only in the consultant's cookie; the database stores its SHA-256
(a stolen database row cannot be replayed) with the session's CSRF token.

Presence (``online`` / ``away`` / ``offline``) is set by the consultant and refreshed by
the console's open websocket (``seen_at``); routing counts a consultant as online only
while that refresh is recent (:data:`PRESENCE_FRESH`).
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import CheckConstraint, ForeignKey, String, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from vetrina.storage.base import Base, utcnow
from vetrina.storage.database import Database

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
PRESENCE_FRESH = timedelta(minutes=3)
MIN_PASSWORD_CHARS = 10

_hasher = PasswordHasher()
# Verifying against this when the email is unknown costs the same time as a real check,
# so response times do not tell which emails have accounts.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class Role(str, enum.Enum):
    CONSULTANT = "consultant"
    ADMIN = "admin"


class Presence(str, enum.Enum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class Consultant(Base):
    __tablename__ = "consultants"
    __table_args__ = (
        CheckConstraint("role IN ('consultant', 'admin')", name="role"),
        CheckConstraint("presence IN ('online', 'away', 'offline')", name="presence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default=Role.CONSULTANT.value)
    active: Mapped[bool] = mapped_column(default=True)
    presence: Mapped[str] = mapped_column(String(10), default=Presence.OFFLINE.value)
    seen_at: Mapped[datetime | None]
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The console's UI language, saved by the header's switch ("it"/"en"); None: not
    # chosen yet (the browser's cookie or language decides).
    language: Mapped[str | None] = mapped_column(String(5))


class ConsultantStore(Base):
    """A store a consultant serves (a store code, like ``customers.favourite_store_code``)."""

    __tablename__ = "consultant_stores"

    consultant_id: Mapped[int] = mapped_column(
        ForeignKey("consultants.id", ondelete="CASCADE"), primary_key=True
    )
    store_code: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class ConsoleSession(Base):
    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    consultant_id: Mapped[int] = mapped_column(
        ForeignKey("consultants.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


@dataclass(frozen=True)
class ConsultantView:
    id: int
    email: str
    name: str
    role: str
    stores: tuple[str, ...]
    presence: str
    seen_at: datetime | None
    language: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value

    def effective_presence(self, now: datetime | None = None) -> str:
        """``online`` only while the console keeps refreshing it."""
        if self.presence == Presence.ONLINE.value and (
            self.seen_at is None or (now or utcnow()) - self.seen_at > PRESENCE_FRESH
        ):
            return Presence.AWAY.value
        return self.presence


class AccountError(ValueError):
    """A consultant account cannot be created or changed as asked."""


class LoginRefused(Exception):
    """Wrong email or password, or the account is locked; ``locked`` says which."""

    def __init__(self, locked: bool = False) -> None:
        super().__init__("account locked" if locked else "wrong email or password")
        self.locked = locked


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def view_of(session: AsyncSession, consultant: Consultant) -> ConsultantView:
    stores = (
        await session.scalars(
            select(ConsultantStore.store_code)
            .where(ConsultantStore.consultant_id == consultant.id)
            .order_by(ConsultantStore.store_code)
        )
    ).all()
    return ConsultantView(
        consultant.id, consultant.email, consultant.name, consultant.role, tuple(stores),
        consultant.presence, consultant.seen_at, consultant.language,
    )


async def create_consultant(
    db: Database,
    email: str,
    name: str,
    password: str,
    *,
    stores: Sequence[str] = (),
    role: Role = Role.CONSULTANT,
) -> ConsultantView:
    async with db.transaction() as session:
        return await insert_consultant(session, email, name, password, stores=stores, role=role)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def insert_consultant(
    session: AsyncSession,
    email: str,
    name: str,
    password: str,
    *,
    stores: Sequence[str] = (),
    role: Role = Role.CONSULTANT,
) -> ConsultantView:
    """The new account, inside the caller's transaction (the admin tools record it too)."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise AccountError(f"not an email address: {email!r}")
    check_password_rules(password)
    if await session.scalar(select(Consultant.id).where(Consultant.email == email)):
        raise AccountError(f"a consultant with email {email} already exists")
    consultant = Consultant(
        email=email, name=name.strip()[:200] or email, password_hash=_hasher.hash(password),
        role=role.value,
    )
    session.add(consultant)
    await session.flush()
    for code in sorted({s.strip().upper() for s in stores if s.strip()}):
        session.add(ConsultantStore(consultant_id=consultant.id, store_code=code))
    await session.flush()
    return await view_of(session, consultant)


async def get_consultant(db: Database, consultant_id: int) -> ConsultantView | None:
    async with db.sessions() as session:
        consultant = await session.get(Consultant, consultant_id)
        if consultant is None or not consultant.active:
            return None
        return await view_of(session, consultant)


async def list_consultants(db: Database) -> list[ConsultantView]:
    async with db.sessions() as session:
        rows = (
            await session.scalars(
                select(Consultant).where(Consultant.active.is_(True)).order_by(Consultant.name)
            )
        ).all()
        return [await view_of(session, row) for row in rows]


async def authenticate(
    db: Database, email: str, password: str, *, now: datetime | None = None
) -> ConsultantView:
    """The consultant whose email and password these are; :class:`LoginRefused` otherwise."""
    now = now or utcnow()
    email = normalise_email(email)
    async with db.sessions() as session:
        consultant = await session.scalar(
            select(Consultant).where(Consultant.email == email, Consultant.active.is_(True))
        )
        if consultant is None:
            with contextlib.suppress(VerificationError):
                _hasher.verify(_DUMMY_HASH, password)
            raise LoginRefused()
        if consultant.locked_until is not None and consultant.locked_until > now:
            raise LoginRefused(locked=True)
        try:
            _hasher.verify(consultant.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            failures = consultant.failed_logins + 1
            locked = failures >= MAX_FAILURES
            consultant.failed_logins = 0 if locked else failures
            if locked:
                consultant.locked_until = now + LOCKOUT
            await session.commit()  # the count must survive the refused login
            raise LoginRefused(locked=locked) from None
        consultant.failed_logins = 0
        consultant.locked_until = None
        if _hasher.check_needs_rehash(consultant.password_hash):
            consultant.password_hash = _hasher.hash(password)
        view = await view_of(session, consultant)
        await session.commit()
        return view


async def set_password(db: Database, consultant_id: int, password: str) -> None:
    check_password_rules(password)
    async with db.transaction() as session:
        consultant = await session.get_one(Consultant, consultant_id)
        consultant.password_hash = _hasher.hash(password)
        await session.execute(
            delete(ConsoleSession).where(ConsoleSession.consultant_id == consultant_id)
        )


# --- login sessions -----------------------------------------------------------------------


@dataclass(frozen=True)
class OpenSession:
    token: str  # goes in the cookie, nowhere else
    csrf_token: str
    consultant: ConsultantView


async def open_session(db: Database, consultant: ConsultantView) -> OpenSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    async with db.transaction() as session:
        session.add(
            ConsoleSession(
                token_hash=_token_hash(token), consultant_id=consultant.id, csrf_token=csrf,
                created_at=now, expires_at=now + SESSION_LIFETIME,
            )
        )
        await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
    return OpenSession(token, csrf, consultant)


async def session_for(db: Database, token: str) -> OpenSession | None:
    """The live session of a cookie token, or ``None`` (unknown, expired, account gone)."""
    if not token or len(token) > 100:
        return None
    async with db.sessions() as session:
        row = await session.get(ConsoleSession, _token_hash(token))
        if row is None or row.expires_at < utcnow():
            return None
        consultant = await session.get(Consultant, row.consultant_id)
        if consultant is None or not consultant.active:
            return None
        return OpenSession(token, row.csrf_token, await view_of(session, consultant))


async def close_session(db: Database, token: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            delete(ConsoleSession).where(ConsoleSession.token_hash == _token_hash(token))
        )


# --- presence -----------------------------------------------------------------------------


async def set_presence(
    db: Database, consultant_id: int, presence: Presence, *, now: datetime | None = None
) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Consultant)
            .where(Consultant.id == consultant_id)
            .values(presence=presence.value, seen_at=now or utcnow())
        )


async def touch(db: Database, consultant_id: int, *, now: datetime | None = None) -> None:
    """The consultant's console is still connected."""
    async with db.transaction() as session:
        await session.execute(
            update(Consultant).where(Consultant.id == consultant_id).values(seen_at=now or utcnow())
        )


async def online_count(
    session: AsyncSession, store_code: str | None, *, now: datetime | None = None
) -> int:
    """Consultants online now for a store's queue (``None``: the general queue, anyone)."""
    fresh_since = (now or utcnow()) - PRESENCE_FRESH
    query = select(Consultant.id).where(
        Consultant.active.is_(True),
        Consultant.presence == Presence.ONLINE.value,
        Consultant.seen_at >= fresh_since,
    )
    if store_code is not None:
        query = query.join(
            ConsultantStore, ConsultantStore.consultant_id == Consultant.id
        ).where(ConsultantStore.store_code == store_code)
    return len((await session.scalars(query.distinct())).all())
