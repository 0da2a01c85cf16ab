"""Failed console logins, counted atomically in the database so every gateway instance
sees the same numbers (issue 17, part 2).

One row per key (``pair:<email>|<address>``, ``address:<address>``,
``account:<email>``): failures within the current window and the time until which the
key is blocked. :meth:`SqlFailureCounter.hit` is one ``UPDATE … RETURNING`` whose
``WHERE`` also checks the block, so two concurrent attempts cannot both slip through
the same opening: the database serialises them on the row. Times are epoch seconds
(floats), so the arithmetic is plain SQL on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Float, Integer, String, case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from vetrina.storage.base import Base
from vetrina.storage.database import Database

MAX_KEY = 320


class LoginFailure(Base):
    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(MAX_KEY), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[float] = mapped_column(Float, index=True)
    blocked_until: Mapped[float] = mapped_column(Float, default=0.0)


@dataclass(frozen=True)
class Rule:
    """``free`` failures within ``window`` seconds cost nothing; each one after blocks
    the key for ``first`` seconds, doubling, at most ``most``."""

    free: int
    first: float
    most: float
    window: float

    def delay(self, failures: int) -> float:
        if failures <= self.free:
            return 0.0
        return float(min(self.most, self.first * 2 ** min(failures - self.free - 1, 40)))


@dataclass(frozen=True)
class Hit:
    admitted: bool  # False: the key was blocked, nothing was counted
    failures: int
    blocked_until: float  # epoch seconds; 0 when not blocked


@dataclass(frozen=True)
class Block:
    key: str
    failures: int
    blocked_until: float


class FailureCounter(Protocol):
    """Where failures are counted: the database, or Redis with several instances."""

    async def hit(self, key: str, rule: Rule, now: float, *, only_if_open: bool) -> Hit:
        """Count one failure (``only_if_open``: only if the key is not blocked now)."""

    async def blocked_until(self, key: str) -> float:
        """Epoch seconds until which ``key`` is blocked (0: it is not)."""

    async def clear(self, key: str) -> None:
        """Forget ``key`` (a success, or an admin's unlock)."""

    async def blocks(self, prefix: str, now: float) -> list[Block]:
        """Keys starting with ``prefix`` blocked at ``now``."""


def _delay_sql(failures: ColumnElement[int], rule: Rule) -> ColumnElement[float]:
    """``rule.delay`` as a SQL ``CASE`` (no ``power()`` on SQLite)."""
    whens: list[tuple[ColumnElement[bool], float]] = [(failures <= rule.free, 0.0)]
    n = rule.free + 1
    while rule.delay(n) < rule.most:
        whens.append((failures == n, rule.delay(n)))
        n += 1
    return case(*whens, else_=rule.most)


class SqlFailureCounter:
    """The counter in the database. On SQLite (one writer at a time anyway) this
    process's hits also take turns on a lock, so a burst of failed logins queues here
    instead of exhausting SQLite's busy timeout."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._turns = asyncio.Lock() if db.is_sqlite else contextlib.nullcontext()

    async def hit(self, key: str, rule: Rule, now: float, *, only_if_open: bool) -> Hit:
        key = key[:MAX_KEY]
        insert = sqlite_insert if self._db.is_sqlite else pg_insert
        expired = LoginFailure.window_start < now - rule.window
        failures = case((expired, 1), else_=LoginFailure.failures + 1)
        delay = _delay_sql(failures, rule)
        statement = (
            update(LoginFailure)
            .where(LoginFailure.key == key)
            .values(
                failures=failures,
                window_start=case((expired, now), else_=LoginFailure.window_start),
                blocked_until=case((delay > 0, now + delay), else_=0.0),
            )
            .returning(LoginFailure.failures, LoginFailure.blocked_until)
        )
        if only_if_open:
            statement = statement.where(LoginFailure.blocked_until <= now)
        async with self._turns, self._db.transaction() as session:
            await session.execute(
                insert(LoginFailure)
                .values(key=key, failures=0, window_start=now, blocked_until=0.0)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            row = (await session.execute(statement)).first()
            if row is None:
                until = await session.scalar(
                    select(LoginFailure.blocked_until).where(LoginFailure.key == key)
                )
                current = await session.scalar(
                    select(LoginFailure.failures).where(LoginFailure.key == key)
                )
                return Hit(False, int(current or 0), float(until or 0.0))
            # Rows idle for long are of no use to anyone.
            await session.execute(
                delete(LoginFailure).where(
                    LoginFailure.window_start < now - 2 * rule.window,
                    LoginFailure.blocked_until < now,
                )
            )
            return Hit(True, int(row[0]), float(row[1]))

    async def blocked_until(self, key: str) -> float:
        async with self._db.sessions() as session:
            until = await session.scalar(
                select(LoginFailure.blocked_until).where(LoginFailure.key == key[:MAX_KEY])
            )
        return float(until or 0.0)

    async def clear(self, key: str) -> None:
        async with self._turns, self._db.transaction() as session:
            await session.execute(delete(LoginFailure).where(LoginFailure.key == key[:MAX_KEY]))

    async def blocks(self, prefix: str, now: float) -> list[Block]:
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(LoginFailure.key, LoginFailure.failures, LoginFailure.blocked_until)
                .where(LoginFailure.key.startswith(prefix, autoescape=True),
                       LoginFailure.blocked_until > now)
                .order_by(LoginFailure.key)
            )
            return [Block(key, int(failures), float(until)) for key, failures, until in rows]
