"""The shopper's side of a handoff on WhatsApp and Instagram (issue 13, item 9): replies
signed with the consultant's first name, and Instagram's ``typing_on`` while they write.
WhatsApp through Twilio has no typing indicator, so it gets none."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from channels.instagram.render import messages
from channels.whatsapp.render import render
from tests.channels.conftest import Harness
from vetrina.conversations.models import Direction, Message
from vetrina.conversations.ports import OutboundView
from vetrina.storage.base import utcnow

IGSID = "6543210987654321"


def view(author: str, payload: dict[str, Any], text: str = "Eccomi, ti aiuto io.") -> OutboundView:
    return OutboundView(1, "c1", "instagram", author, text, payload, utcnow())


def test_consultant_replies_start_with_the_first_name_only() -> None:
    reply = view("consultant", {"consultant": {"id": 3, "name": "Giulia Rossi"}})
    assert reply.signature == "Giulia"
    assert messages(reply, "it") == [{"text": "Giulia: Eccomi, ti aiuto io."}]
    assert [p.body for p in render(reply, "it")] == ["Giulia: Eccomi, ti aiuto io."]


def test_bot_and_system_messages_and_nameless_replies_are_not_signed() -> None:
    for author, payload in (
        ("bot", {}),
        ("system", {"consultant": {"id": 3, "name": "Giulia Rossi"}}),  # "Giulia is with you"
        ("consultant", {"consultant": {"id": 3, "name": "  "}}),
        ("consultant", {}),
    ):
        assert messages(view(author, payload), "it") == [{"text": "Eccomi, ti aiuto io."}]


async def test_instagram_shows_typing_on_whatsapp_has_no_indicator(harness: Harness) -> None:
    indicators = harness.channels.typing_indicators()
    assert set(indicators) == {"instagram"}
    event = harness.meta.message_event(IGSID, "vorrei parlare con una persona")
    await harness.meta.deliver(harness.instagram_url, harness.meta.batch([[event]]))
    await harness.meta.wait_for(IGSID)  # the assistant's answer
    [inbound] = await harness.messages(direction=Direction.IN.value)

    await indicators["instagram"].consultant_typing(inbound.customer_id, "Giulia")
    assert harness.meta.actions == [{"recipient": IGSID, "action": "typing_on"}]

    # Outside the 24-hour window Meta would refuse it: nothing is sent.
    async with harness.services.db.transaction() as session:
        row = await session.get_one(Message, inbound.id)
        row.created_at = utcnow() - timedelta(days=2)
    await indicators["instagram"].consultant_typing(inbound.customer_id, "Giulia")
    assert len(harness.meta.actions) == 1
