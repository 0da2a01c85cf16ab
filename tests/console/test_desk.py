"""The console desk without the web: Rasa down at hand-back, a retried resume."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from tests.console.fakes import FakeTracker
from vetrina.conversations import handoff
from vetrina.conversations.consultants import create_consultant
from vetrina.conversations.handoff import CUSTOMER, HandoffOptions, Reason
from vetrina.conversations.inbox import InboundMessage, Inbox
from vetrina.conversations.models import Message
from vetrina.conversations.ports import AssistantUnavailable, BotReply
from vetrina.conversations.routing import ConsultantHours
from vetrina.gateway.console import desk as console_desk
from vetrina.gateway.console.desk import ConsoleDesk
from vetrina.gateway.live import InProcessBus
from vetrina.storage.database import Database


@dataclass
class FlakyTracker(FakeTracker):
    failures: int = 2
    resumed: list[str] = field(default_factory=list)

    async def resume(self, customer_id: str) -> list[BotReply]:
        if self.failures:
            self.failures -= 1
            raise AssistantUnavailable("Rasa is restarting")
        self.resumed.append(customer_id)
        return [BotReply(text="back")]


async def test_a_failed_resume_is_retried_and_the_customer_is_told_anyway(
    sqlite_db: Database, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(console_desk, "RESUME_RETRY_FIRST", 0.05)
    tracker = FlakyTracker()
    desk = ConsoleDesk(sqlite_db, tracker, InProcessBus(), lambda: None)
    received = await Inbox(sqlite_db).receive(
        InboundMessage(channel="whatsapp", external_id="+390000000009", text="aiuto")
    )
    consultant = await create_consultant(sqlite_db, "g@example.com", "Giulia", "long password 1")
    outcome = await handoff.request_consultant(
        sqlite_db, received.customer_id, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER,
        options=HandoffOptions(ConsultantHours.parse("")),
    )
    await desk.claim(consultant, outcome.conversation_id)
    await desk.hand_back(consultant, outcome.conversation_id)
    async with sqlite_db.sessions() as session:
        texts = (await session.scalars(
            select(Message.text).where(Message.direction == "out").order_by(Message.id)
        )).all()
    assert "Giulia" in texts[0]  # "Giulia … is with you now"
    assert "assistente automatico" in texts[-1]  # the gateway's own notice: Rasa was down
    await desk.settle()
    assert tracker.resumed == [received.customer_id]
    assert ("pause", received.customer_id) in tracker.calls
