"""What the customer services need from the assistant: its memory of each conversation.

``integrations.rasa.RasaMemory`` implements it against Rasa's HTTP API (slots) and its
SQL tracker store (reading and erasing a customer's events); tests use a fake.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class AssistantMemory(Protocol):
    async def remember(self, customer_id: str, slots: dict[str, Any]) -> None:
        """Set ``slots`` on the customer's conversation, as if said in it (after a merge)."""

    async def recall(self, customer_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every event the assistant keeps about these customers (for an export)."""

    async def forget(self, customer_ids: Sequence[str]) -> int:
        """Delete everything the assistant keeps about these customers; rows deleted."""
