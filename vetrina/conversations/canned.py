"""Canned replies: answers a store writes once and a consultant inserts with ``/`` plus
a shortcut. Per store (or global, ``store_code`` NULL) and per language, so a consultant
is offered only their stores' and the global ones in the conversation's language."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Index, String, Text, delete, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from vetrina.storage.base import Base, utcnow
from vetrina.storage.database import Database, affected

LANGUAGES = ("it", "en")
SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_TITLE = 80
MAX_TEXT = 2000


class CannedReply(Base):
    __tablename__ = "canned_replies"
    __table_args__ = (Index("ix_canned_replies_scope", "language", "store_code", "shortcut"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_code: Mapped[str | None] = mapped_column(String(32))  # NULL: every store
    language: Mapped[str] = mapped_column(String(5))
    shortcut: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(MAX_TITLE))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CannedError(ValueError):
    """A canned reply that cannot be kept; the message says which field and why."""


@dataclass(frozen=True)
class CannedDraft:
    """A canned reply as given, checked: what create and edit store."""

    store_code: str | None
    language: str
    shortcut: str
    title: str
    text: str

    @classmethod
    def check(cls, store_code: str | None, language: object, shortcut: object, title: object,
              text: object) -> CannedDraft:
        if language not in LANGUAGES:
            raise CannedError("language must be it or en")
        short = shortcut.strip().lower() if isinstance(shortcut, str) else ""
        if not SHORTCUT.match(short):
            raise CannedError("shortcut: 1-32 letters, digits, - or _, without spaces")
        name = title.strip() if isinstance(title, str) else ""
        if not name or len(name) > MAX_TITLE:
            raise CannedError(f"title: 1-{MAX_TITLE} characters")
        body = text.strip() if isinstance(text, str) else ""
        if not body or len(body) > MAX_TEXT:
            raise CannedError(f"text: 1-{MAX_TEXT} characters")
        return cls(store_code, str(language), short, name, body)


def _same_scope(draft: CannedDraft) -> list[ColumnElement[bool]]:
    store = (CannedReply.store_code.is_(None) if draft.store_code is None
             else CannedReply.store_code == draft.store_code)
    return [store, CannedReply.language == draft.language, CannedReply.shortcut == draft.shortcut]


async def save(db: Database, draft: CannedDraft, reply_id: int | None = None) -> CannedReply:
    """Create (``reply_id`` None) or replace one; a shortcut is unique per store and
    language (:class:`CannedError`), :class:`LookupError` for an unknown id."""
    async with db.transaction() as session:
        found = None if reply_id is None else await session.get(CannedReply, reply_id)
        if reply_id is not None and found is None:
            raise LookupError(reply_id)
        clash = await session.scalar(select(CannedReply.id).where(*_same_scope(draft)))
        if clash is not None and clash != reply_id:
            raise CannedError(f"the shortcut /{draft.shortcut} already exists here")
        row = found or CannedReply()
        if found is None:
            session.add(row)
        row.store_code, row.language = draft.store_code, draft.language
        row.shortcut, row.title, row.text = draft.shortcut, draft.title, draft.text
        await session.flush()
        return row


async def remove(db: Database, reply_id: int) -> bool:
    async with db.transaction() as session:
        return affected(await session.execute(
            delete(CannedReply).where(CannedReply.id == reply_id)
        )) > 0


async def offered(
    db: Database, stores: tuple[str, ...] | None, language: str | None
) -> list[CannedReply]:
    """The replies for these stores (None: all of them, for an admin) plus the global
    ones, in ``language`` if given; by shortcut."""
    query = select(CannedReply)
    if stores is not None:
        query = query.where(or_(CannedReply.store_code.is_(None),
                                CannedReply.store_code.in_(stores)))
    if language is not None:
        query = query.where(CannedReply.language == language)
    async with db.sessions() as session:
        rows = await session.scalars(
            query.order_by(CannedReply.shortcut, CannedReply.store_code, CannedReply.id).limit(500)
        )
        return list(rows.all())
