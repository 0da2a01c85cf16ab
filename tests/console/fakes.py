"""A fake of the assistant's tracker (``vetrina.conversations.handoff.AssistantTracker``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vetrina.conversations.ports import BotReply, Turn


@dataclass
class FakeTracker:
    """Records what the gateway tells the assistant's tracker."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    async def pause(self, customer_id: str) -> None:
        self.calls.append(("pause", customer_id))

    async def remember(self, turn: Turn) -> None:
        self.calls.append(("remember", turn.text))

    async def remember_reply(self, customer_id: str, text: str, consultant: str) -> None:
        self.calls.append(("remember_reply", text))

    async def resume(self, customer_id: str) -> list[BotReply]:
        self.calls.append(("resume", customer_id))
        return [BotReply(text="Eccomi di nuovo: sono l'assistente automatico.")]
