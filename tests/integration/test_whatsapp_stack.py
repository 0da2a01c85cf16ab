"""Whole stack: a WhatsApp customer → signed Twilio webhook → gateway → real Rasa and action
server → reply through the official twilio client to the fake Twilio, in their language."""

from __future__ import annotations

import pytest

from tests.stack_fixtures import Gateway
from vetrina.conversations.models import Message
from vetrina.language import detect_language

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("number", "text", "language"),
    [("+393330000001", "ciao", "it"), ("+447700900001", "hello", "en")],
)
async def test_whatsapp_text_is_answered_in_the_customers_language(
    gateway: Gateway, number: str, text: str, language: str
) -> None:
    twilio = gateway.twilio
    assert twilio is not None
    params = twilio.incoming(number, text, profile_name="Stack Test")
    status, _ = await twilio.deliver(f"{gateway.url}/webhooks/whatsapp", params)
    assert status == 200
    replies = await twilio.wait_for(number, timeout=60)
    answer = " ".join(m.body for m in replies)
    assert detect_language(answer) == language, answer
    assert all(m.from_ == twilio.whatsapp_from for m in replies)

    async with gateway.services.db.sessions() as session:
        from sqlalchemy import select

        stored = (await session.scalars(
            select(Message).where(Message.provider_message_id == params["MessageSid"])
        )).all()
    assert len(stored) == 1 and stored[0].channel == "whatsapp"
