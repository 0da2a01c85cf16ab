"""Merge (or undo) plus the assistant-memory sync, one call for the console and the API.

A merge moves a customer's rows into another's; the assistant then needs the
survivor's slots (language, sizes, store…) or it keeps asking for what the profile
knows. The sync is a nicety: the merge stands when it fails, and the answer says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from vetrina.customers.merging import MergeRecord, carry_memory, merge_customers, undo_merge
from vetrina.customers.ports import AssistantMemory
from vetrina.storage.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Synced:
    record: MergeRecord
    assistant_memory: str  # "updated", or "failed: why"


async def _sync(db: Database, memory: AssistantMemory, customer_id: str) -> str:
    try:
        await carry_memory(db, memory, customer_id)
    except Exception as error:  # any failure of the assistant's store: reported, not fatal
        log.exception("could not update the assistant's memory of %s", customer_id)
        return f"failed: {error}"[:300]
    return "updated"


async def merge_and_sync(
    db: Database, memory: AssistantMemory, survivor_id: str, merged_id: str, *,
    actor: str, reason: str,
) -> Synced:
    record = await merge_customers(db, survivor_id, merged_id, actor=actor, reason=reason)
    return Synced(record, await _sync(db, memory, record.survivor_id))


async def undo_and_sync(
    db: Database, memory: AssistantMemory, merge_id: int, *, actor: str
) -> Synced:
    record = await undo_merge(db, merge_id, actor=actor)
    return Synced(record, await _sync(db, memory, record.merged_id))


def merge_json(record: MergeRecord, memory: str | None = None) -> dict[str, object]:
    """A merge as the API and the console show it."""
    body: dict[str, object] = {
        "id": record.id,
        "survivor_id": record.survivor_id,
        "merged_id": record.merged_id,
        "actor": record.actor,
        "reason": record.reason,
        "created_at": record.created_at.isoformat(),
        "undone_at": record.undone_at.isoformat() if record.undone_at else None,
        "undone_by": record.undone_by,
        "moved": record.moved,
        "overridden": record.overridden,
        "kept_on_undo": record.kept_on_undo,
    }
    if memory is not None:
        body["assistant_memory"] = memory
    return body
