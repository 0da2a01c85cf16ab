"""The one merge use case: merge (or undo) two customers, then bring the assistant's
memory in line with the resulting profile.

The console's admin merge, the customers API and identity linking all call these, so a
merge always ends the same way: the database change is one transaction and stands on its
own; giving the assistant the profile's slots afterwards is a nicety whose outcome is
reported (``"updated"``, ``"skipped"`` when there is no assistant memory, ``"failed: …"``)
and never undoes the merge.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from vetrina.customers.merging import MergeRecord, carry_memory, merge_customers, undo_merge
from vetrina.customers.ports import AssistantMemory
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

UPDATED = "updated"
SKIPPED = "skipped"


@dataclass(frozen=True)
class MergeOutcome:
    record: MergeRecord
    assistant_memory: str  # "updated", "skipped" or "failed: <why>"


async def sync_memory(db: Database, memory: AssistantMemory | None, customer_id: str) -> str:
    """Give the customer's conversation in the assistant the slots of their profile."""
    if memory is None:
        return SKIPPED
    try:
        await carry_memory(db, memory, customer_id)
    except Exception as error:  # the merge stands; the memory is a nicety, reported
        log.exception("could not update the assistant's memory of %s", customer_id)
        return f"failed: {error}"[:300]
    return UPDATED


async def merge_and_sync(
    db: Database,
    memory: AssistantMemory | None,
    survivor_id: str,
    merged_id: str,
    *,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> MergeOutcome:
    """Merge ``merged_id`` into ``survivor_id``, then update the survivor's memory.

    Raises what :func:`~vetrina.customers.merging.merge_customers` raises (nothing changed).
    """
    record = await merge_customers(db, survivor_id, merged_id, actor=actor, reason=reason, now=now)
    return MergeOutcome(record, await sync_memory(db, memory, record.survivor_id))


async def undo_and_sync(
    db: Database,
    memory: AssistantMemory | None,
    merge_id: int,
    *,
    actor: str,
    now: datetime | None = None,
) -> MergeOutcome:
    """Undo merge ``merge_id``, then update the memory of the customer split off."""
    record = await undo_merge(db, merge_id, actor=actor, now=now)
    return MergeOutcome(record, await sync_memory(db, memory, record.merged_id))
