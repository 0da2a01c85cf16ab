"""Fakes implementing the conversation ports, for tests that do not need Rasa."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from vetrina.conversations.ports import (
    AssistantUnavailable,
    BotReply,
    DeliveryError,
    OutboundView,
    Turn,
)


@dataclass
class FakeAssistant:
    """Answers "echo: <text>"; can be switched down, slowed, or pre-seeded with handled turns."""

    down: bool = False
    delay: float = 0.0
    calls: list[Turn] = field(default_factory=list)
    handled: dict[int, list[BotReply]] = field(default_factory=dict)
    recover_calls: list[int] = field(default_factory=list)

    async def reply(self, turn: Turn) -> list[BotReply]:
        if self.down:
            raise AssistantUnavailable("fake assistant is down")
        self.calls.append(turn)
        if self.delay:
            await asyncio.sleep(self.delay)
        replies = [BotReply(text=f"echo: {turn.text}")]
        self.handled[turn.message_id] = replies
        return replies

    async def replies_already_given(self, turn: Turn) -> list[BotReply] | None:
        if self.down:
            raise AssistantUnavailable("fake assistant is down")
        self.recover_calls.append(turn.message_id)
        return self.handled.get(turn.message_id)


@dataclass
class RecordingSender:
    sent: list[OutboundView] = field(default_factory=list)
    failures: list[DeliveryError] = field(default_factory=list)

    async def send(self, message: OutboundView) -> str | None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return f"provider-{message.id}"


@dataclass
class RecordingNotifier:
    notices: list[tuple[str, str, str]] = field(default_factory=list)

    async def assistant_delayed(self, customer_id: str, channel: str, language: str) -> None:
        self.notices.append((customer_id, channel, language))
