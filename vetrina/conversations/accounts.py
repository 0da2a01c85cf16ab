"""Administering consultant accounts: create, change stores and role, deactivate and
reactivate, one-time password reset codes, and each consultant's console language.

Every change writes its audit entry (:mod:`vetrina.storage.audit`) in its own
transaction. Two rules keep the console administrable:

- an admin cannot deactivate or demote themselves, and
- the last active admin can be neither deactivated nor demoted.

The check and the change are serialised (a transaction-scoped advisory lock on
PostgreSQL; SQLite has one writer at a time), so two admins demoting each other at the
same moment cannot leave nobody.

Deactivating an account deletes its console sessions in the same transaction: its next
request is refused, and its open websocket is told at once by the caller (the gateway
publishes ``account_ended``).

A reset code is 128 random bits shown once to the admin (as a link), kept only as its
SHA-256, valid for :data:`RESET_LIFETIME` and for one use; issuing a new one voids the
earlier ones. Using it sets the password and ends every session of the account.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from vetrina.conversations.consultants import (
    AccountError,
    ConsoleSession,
    Consultant,
    ConsultantStore,
    ConsultantView,
    Role,
    check_password_rules,
    hash_password,
    insert_consultant,
    view_of,
)
from vetrina.storage.audit import record
from vetrina.storage.base import Base, utcnow
from vetrina.storage.database import Database
from vetrina.storage.locks import lock_key

RESET_LIFETIME = timedelta(hours=24)
LANGUAGES = ("it", "en")
MAX_STORES = 100


class AccountNotFound(AccountError, LookupError):
    """No consultant with that id."""


class AccountConflict(AccountError):
    """The change would lock the administration out (yourself, or the last admin)."""


class ResetRefused(AccountError):
    """The reset code is unknown, used or expired (one message for all three)."""

    def __init__(self) -> None:
        super().__init__("this reset code is not valid (wrong, already used or expired)")


class PasswordReset(Base):
    __tablename__ = "password_resets"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    consultant_id: Mapped[int] = mapped_column(
        ForeignKey("consultants.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


@dataclass(frozen=True)
class AccountView:
    """A consultant as the administration lists them (inactive ones included)."""

    consultant: ConsultantView
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class ResetCode:
    code: str  # shown once, stored nowhere
    consultant_id: int
    expires_at: datetime


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "surrogateescape")).hexdigest()


def target_of(consultant_id: int) -> str:
    return f"consultant:{consultant_id}"


async def _serialise(session: AsyncSession) -> None:
    """One administrative account change at a time (PostgreSQL; SQLite writes serially)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key("admin", "accounts")}
        )


async def _get(session: AsyncSession, consultant_id: int) -> Consultant:
    row = await session.get(Consultant, consultant_id, populate_existing=True)
    if row is None:
        raise AccountNotFound(f"no consultant with id {consultant_id}")
    return row


async def _other_active_admins(session: AsyncSession, consultant_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count(Consultant.id)).where(
                Consultant.active.is_(True), Consultant.role == Role.ADMIN.value,
                Consultant.id != consultant_id,
            )
        ) or 0
    )


def _stores(stores: Sequence[str]) -> list[str]:
    codes = sorted({s.strip().upper() for s in stores if s.strip()})
    if len(codes) > MAX_STORES:
        raise AccountError(f"at most {MAX_STORES} stores")
    return codes


async def list_accounts(db: Database) -> list[AccountView]:
    async with db.sessions() as session:
        rows = (await session.scalars(select(Consultant).order_by(Consultant.name))).all()
        return [AccountView(await view_of(session, r), r.active, r.created_at) for r in rows]


async def get_account(db: Database, consultant_id: int) -> AccountView:
    async with db.sessions() as session:
        row = await _get(session, consultant_id)
        return AccountView(await view_of(session, row), row.active, row.created_at)


async def find_account(db: Database, email: str) -> AccountView | None:
    async with db.sessions() as session:
        row = await session.scalar(
            select(Consultant).where(Consultant.email == email.strip().lower())
        )
        if row is None:
            return None
        return AccountView(await view_of(session, row), row.active, row.created_at)


async def create_account(
    db: Database,
    email: str,
    name: str,
    *,
    actor: str,
    stores: Sequence[str] = (),
    role: Role = Role.CONSULTANT,
    password: str | None = None,
) -> tuple[ConsultantView, ResetCode | None]:
    """The new account; without a password, a reset code for them to choose one."""
    async with db.transaction() as session:
        view = await insert_consultant(
            session, email, name, password or secrets.token_urlsafe(32), stores=_stores(stores),
            role=role,
        )
        record(session, actor, "consultant.create", target_of(view.id), email=view.email,
               role=view.role, stores=list(view.stores))
        reset = None if password else await _issue(session, view.id, actor)
    return view, reset


async def update_account(
    db: Database,
    consultant_id: int,
    *,
    actor: str,
    acting_id: int | None = None,
    name: str | None = None,
    role: Role | None = None,
    stores: Sequence[str] | None = None,
) -> ConsultantView:
    """Change name, role and/or stores (``None``: unchanged)."""
    async with db.transaction() as session:
        await _serialise(session)
        row = await _get(session, consultant_id)
        changes: dict[str, object] = {}
        if name is not None and name.strip() and name.strip()[:200] != row.name:
            changes["name"] = row.name = name.strip()[:200]
        if role is not None and role.value != row.role:
            if role is not Role.ADMIN:
                if acting_id == consultant_id:
                    raise AccountConflict("you cannot take the admin role from yourself")
                if row.active and not await _other_active_admins(session, consultant_id):
                    raise AccountConflict("this is the last active admin: make another first")
            changes["role"] = row.role = role.value
        if stores is not None:
            wanted = _stores(stores)
            before = (await view_of(session, row)).stores
            if tuple(wanted) != before:
                await session.execute(
                    delete(ConsultantStore).where(ConsultantStore.consultant_id == consultant_id)
                )
                session.add_all(
                    ConsultantStore(consultant_id=consultant_id, store_code=c) for c in wanted
                )
                changes["stores"] = wanted
        if changes:
            await session.flush()
            record(session, actor, "consultant.update", target_of(consultant_id), **changes)
        return await view_of(session, row)


async def set_active(
    db: Database, consultant_id: int, active: bool, *, actor: str, acting_id: int | None = None
) -> ConsultantView:
    """Deactivate (sessions end now) or reactivate an account."""
    async with db.transaction() as session:
        await _serialise(session)
        row = await _get(session, consultant_id)
        if row.active == active:
            return await view_of(session, row)
        if not active:
            if acting_id == consultant_id:
                raise AccountConflict("you cannot deactivate yourself")
            if row.role == Role.ADMIN.value and not await _other_active_admins(
                session, consultant_id
            ):
                raise AccountConflict("this is the last active admin: make another first")
            await session.execute(
                delete(ConsoleSession).where(ConsoleSession.consultant_id == consultant_id)
            )
            await _void_codes(session, consultant_id, utcnow())
            row.presence = "offline"
        row.active = active
        row.failed_logins = 0
        row.locked_until = None
        record(session, actor, "consultant.activate" if active else "consultant.deactivate",
               target_of(consultant_id), email=row.email)
        return await view_of(session, row)


async def _void_codes(session: AsyncSession, consultant_id: int, now: datetime) -> None:
    await session.execute(
        update(PasswordReset)
        .where(PasswordReset.consultant_id == consultant_id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )


async def _issue(session: AsyncSession, consultant_id: int, actor: str) -> ResetCode:
    now = utcnow()
    await _void_codes(session, consultant_id, now)
    code = secrets.token_urlsafe(16)
    expires = now + RESET_LIFETIME
    session.add(
        PasswordReset(
            code_hash=_hash(code), consultant_id=consultant_id, created_by=actor[:300],
            created_at=now, expires_at=expires,
        )
    )
    record(session, actor, "consultant.password_reset", target_of(consultant_id),
           expires_at=expires.isoformat())
    return ResetCode(code, consultant_id, expires)


async def issue_reset(db: Database, consultant_id: int, *, actor: str) -> ResetCode:
    """A fresh one-time code for the account (earlier unused codes stop working)."""
    async with db.transaction() as session:
        row = await _get(session, consultant_id)
        if not row.active:
            raise AccountConflict("the account is deactivated: reactivate it first")
        return await _issue(session, consultant_id, actor)


async def redeem_reset(
    db: Database, code: str, password: str, *, now: datetime | None = None
) -> ConsultantView:
    """Set the password with a reset code: once, before it expires, on an active account.
    Every session of the account ends (whoever held it is out)."""
    check_password_rules(password)
    if not code or len(code) > 100:
        raise ResetRefused()
    now = now or utcnow()
    async with db.transaction() as session:
        used = await session.execute(
            update(PasswordReset)
            .where(
                PasswordReset.code_hash == _hash(code.strip()), PasswordReset.used_at.is_(None),
                PasswordReset.expires_at > now,
            )
            .values(used_at=now)
            .returning(PasswordReset.consultant_id)
        )
        consultant_id = used.scalar()
        if consultant_id is None:
            raise ResetRefused()
        row = await _get(session, consultant_id)
        if not row.active:
            raise ResetRefused()
        row.password_hash = hash_password(password)
        row.failed_logins = 0
        row.locked_until = None
        await session.execute(
            delete(ConsoleSession).where(ConsoleSession.consultant_id == consultant_id)
        )
        record(session, f"consultant:{row.id}:{row.email}", "consultant.password_set",
               target_of(row.id))
        return await view_of(session, row)


async def set_language(db: Database, consultant_id: int, language: str) -> None:
    """The consultant's own console language (not an administrative change: no record)."""
    if language not in LANGUAGES:
        raise AccountError(f"language must be one of {', '.join(LANGUAGES)}")
    async with db.transaction() as session:
        await session.execute(
            update(Consultant).where(Consultant.id == consultant_id).values(language=language)
        )
