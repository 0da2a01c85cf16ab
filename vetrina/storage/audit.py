"""Who changed what in the administration, and when (issue 13, item 8).

Every administrative change (a consultant created, deactivated, given other stores; a
store's try-on switch, temporary closure or consultant hours) writes one
:class:`AuditEntry` **in the transaction of the change**, so a change is never without
its record and a record never without its change. The actor is a plain string
(``consultant:<id>:<email>`` from the console, ``cli:<user>`` from the command line), so
the record outlives the account that made it. Passwords and reset codes never go in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from vetrina.storage.base import Base, utcnow
from vetrina.storage.database import Database

MAX_LISTED = 500


class AuditEntry(Base):
    __tablename__ = "admin_audit"
    __table_args__ = (Index("ix_admin_audit_target", "target", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(300))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@dataclass(frozen=True)
class AuditView:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


def record(
    session: AsyncSession, actor: str, action: str, target: str, **details: Any
) -> None:
    """Add the entry to ``session``: it commits (or rolls back) with the change."""
    session.add(
        AuditEntry(
            at=utcnow(), actor=actor[:300], action=action[:60], target=target[:300],
            details=details,
        )
    )


async def recent(
    db: Database, *, limit: int = 100, target: str | None = None
) -> list[AuditView]:
    """The newest entries first (of one target when given)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, MAX_LISTED)))
    if target is not None:
        query = query.where(AuditEntry.target == target)
    async with db.sessions() as session:
        rows = (await session.scalars(query)).all()
    return [AuditView(r.id, r.at, r.actor, r.action, r.target, dict(r.details or {})) for r in rows]
