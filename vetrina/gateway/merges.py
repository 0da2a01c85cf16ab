"""A merge as the console and the API show it.

Merging itself, with the assistant-memory sync, is one domain use case
(:mod:`vetrina.customers.merge_sync`) that the console, the API and linking all call.
"""

from __future__ import annotations

from vetrina.customers.merging import MergeRecord


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
