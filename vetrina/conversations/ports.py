"""The interfaces the conversation service needs from the outside world.

Adapters implement them: ``integrations.rasa`` is the assistant, ``channels.*`` are the
senders and notifiers. Tests use fakes that implement the same protocols.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Button:
    title: str
    payload: str
    url: str | None = None  # a link button (Rasa's ``type: web_url``): the widget opens it

    def to_payload(self) -> dict[str, str]:
        stored = {"title": self.title, "payload": self.payload}
        if self.url:
            stored.update(type="web_url", url=self.url)
        return stored


@dataclass(frozen=True)
class BotReply:
    """One message of the assistant, channel-neutral."""

    text: str = ""
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    custom: dict[str, Any] | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        if self.buttons:
            payload["buttons"] = [b.to_payload() for b in self.buttons]
        if self.image:
            payload["image"] = self.image
        if self.custom:
            payload["custom"] = self.custom
        return payload


@dataclass(frozen=True)
class Turn:
    """A stored customer message on its way to the assistant."""

    message_id: int
    customer_id: str
    channel: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


class AssistantUnavailable(Exception):
    """The assistant could not answer now (down, slow, or mid-turn); try again later."""


class Assistant(Protocol):
    async def reply(self, turn: Turn) -> list[BotReply]:
        """Send the turn to the assistant and return its replies."""

    async def replies_already_given(self, turn: Turn) -> list[BotReply] | None:
        """The replies to ``turn`` if the assistant already handled it, else ``None``.

        Called before re-sending a turn whose first attempt may have reached the
        assistant, so that a crash never makes the customer get two answers.
        """


@dataclass(frozen=True)
class OutboundView:
    """What a channel sender needs to deliver one stored outbound message."""

    id: int
    customer_id: str
    channel: str
    author: str
    text: str
    payload: dict[str, Any]
    created_at: datetime

    @property
    def buttons(self) -> list[dict[str, str]]:
        return list(self.payload.get("buttons") or [])

    @property
    def signature(self) -> str | None:
        """The first name a consultant's reply is signed with on every channel."""
        return first_name_of(self.payload)


def first_name_of(payload: dict[str, Any] | None) -> str | None:
    """The first name of the consultant who wrote a reply (stored in its payload): the
    shopper sees "Giulia", never a colleague's surname or the word "Consultant"."""
    who = (payload or {}).get("consultant")
    name = who.get("name") if isinstance(who, dict) else None
    words = name.split() if isinstance(name, str) else []
    return words[0] if words else None


def signed_text(view: OutboundView) -> str:
    """The text as a messaging app shows it: a consultant's reply starts with their first
    name ("Giulia: …"), since WhatsApp and Instagram have no author line."""
    name = view.signature if view.author == "consultant" else None
    return f"{name}: {view.text}" if name and view.text else view.text


class DeliveryError(Exception):
    """A channel could not take a message; ``transient`` says whether to retry.

    ``retry_after`` (seconds) is the provider's own hint, e.g. a rate limit's reset time;
    the outbox waits at least that long before the next attempt.
    """

    def __init__(
        self, detail: str, *, transient: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(detail)
        self.transient = transient
        self.retry_after = retry_after


class DeliveryHeld(DeliveryError):
    """The channel may not carry this message now (e.g. outside WhatsApp's 24-hour window).

    The message is kept with status ``held`` and the reason, for a person to act on;
    it is neither retried nor dropped.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason, transient=False)


class ChannelSender(Protocol):
    async def send(self, message: OutboundView) -> str | None:
        """Deliver ``message``; return the provider's message id, if it gives one."""


class TypingIndicator(Protocol):
    """A channel that can show the customer a person is writing (the web widget,
    Instagram's ``typing_on``); WhatsApp through Twilio has none."""

    async def consultant_typing(self, customer_id: str, name: str) -> None:
        """Show that the consultant ``name`` (a first name) is writing; best effort."""


class CustomerNotifier(Protocol):
    async def assistant_delayed(self, customer_id: str, channel: str, language: str) -> None:
        """Tell the customer their message is safe and the answer will come shortly."""
