"""Private notes: what consultants tell each other about a customer's conversation.

A note is a row of its own, never a :class:`~vetrina.conversations.models.Message`, so
no outbox, channel or widget history can ever carry it to the customer. It is kept per
customer (one conversation per customer), so the customers registry exports it, moves it
on a merge and deletes it on erasure like any other table with a ``customer_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from vetrina.conversations.consultants import Consultant
from vetrina.storage.base import Base, utcnow
from vetrina.storage.database import Database

MAX_NOTE = 2000


class ConversationNote(Base):
    __tablename__ = "conversation_notes"
    __table_args__ = (Index("ix_conversation_notes_customer", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoteError(ValueError):
    """A note that cannot be kept (empty or too long)."""


@dataclass(frozen=True)
class NoteView:
    id: int
    author_id: int
    author_name: str | None
    text: str
    created_at: datetime


def clean_note(text: object) -> str:
    """The note's text trimmed, or :class:`NoteError` (a person must read it back)."""
    if not isinstance(text, str) or not text.strip():
        raise NoteError("a note needs some text")
    if len(text.strip()) > MAX_NOTE:
        raise NoteError(f"a note has at most {MAX_NOTE} characters")
    return text.strip()


async def add_note(db: Database, customer_id: str, author_id: int, text: object) -> NoteView:
    clean = clean_note(text)
    async with db.transaction() as session:
        note = ConversationNote(customer_id=customer_id, author_id=author_id, text=clean)
        session.add(note)
        await session.flush()
        author = await session.get(Consultant, author_id)
        return NoteView(note.id, author_id, author.name if author else None, clean,
                        note.created_at)


async def notes_of(db: Database, customer_id: str, limit: int = 300) -> list[NoteView]:
    """The customer's newest ``limit`` notes, oldest first."""
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(ConversationNote.id, ConversationNote.author_id, Consultant.name,
                       ConversationNote.text, ConversationNote.created_at)
                .outerjoin(Consultant, Consultant.id == ConversationNote.author_id)
                .where(ConversationNote.customer_id == customer_id)
                .order_by(ConversationNote.id.desc())
                .limit(limit)
            )
        ).all()
    return [NoteView(*row) for row in reversed(rows)]
