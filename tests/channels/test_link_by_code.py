"""Linking by a code sent from WhatsApp or Instagram, through the gateway: signed
webhooks in (fake Twilio, fake Meta), the sender linked to the web chat that was shown
the code, the answer sent back; a wrong code is an ordinary message, and guessing stops
being looked at."""

from __future__ import annotations

from sqlalchemy import select

from tests.channels.conftest import Harness
from vetrina.conversations.models import Message
from vetrina.customers.link_proofs import ProofOptions, issue_proof_code, new_code
from vetrina.customers.models import ChannelIdentity, Customer, CustomerMerge
from vetrina.messages import message

NUMBER = "+393331234567"
IGSID = "6543210987654321"


async def web_chat_with_code(harness: Harness) -> tuple[str, str]:
    """A web chat customer and the code it was shown."""
    async with harness.services.db.transaction() as session:
        customer = Customer(language="it", last_channel="web")
        session.add(customer)
        await session.flush()
        session.add(ChannelIdentity(customer_id=customer.id, channel="web", external_id="pub-1"))
        shown = await issue_proof_code(session, customer.id, client_key="k")
        return customer.id, shown.code


async def owner(harness: Harness, channel: str, external_id: str) -> str | None:
    identity = await harness.identity(channel, external_id)
    return identity.customer_id if identity is not None else None


async def web_notices(harness: Harness, customer_id: str) -> list[Message]:
    async with harness.services.db.sessions() as session:
        return list((await session.scalars(
            select(Message).where(
                Message.customer_id == customer_id, Message.channel == "web",
                Message.direction == "out",
            )
        )).all())


async def test_a_code_sent_on_whatsapp_links_the_number(harness: Harness) -> None:
    web, code = await web_chat_with_code(harness)
    await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, "ciao"))
    await harness.twilio.wait_for(NUMBER)
    before = await owner(harness, "whatsapp", NUMBER)
    assert before is not None and before != web

    text = message("link_proof_prefill", "it", code=code)
    await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, text))
    replies = await harness.twilio.wait_for(NUMBER, 2)
    assert replies[-1].body == message("link_proof_done", "it")
    assert [turn.text for turn in harness.assistant.calls] == ["ciao"]  # not the code
    assert await owner(harness, "whatsapp", NUMBER) == web
    async with harness.services.db.sessions() as session:
        merge = await session.scalar(select(CustomerMerge))
    assert merge is not None and (merge.survivor_id, merge.merged_id) == (web, before)
    [notice] = await web_notices(harness, web)
    assert notice.text == message("link_proof_web", "it", channel="WhatsApp")
    # Both WhatsApp messages are in the web customer's conversation now.
    assert {m.customer_id for m in await harness.messages(channel="whatsapp")} == {web}

    # Used once: the same text again is an ordinary message for the assistant.
    await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, text))
    replies = await harness.twilio.wait_for(NUMBER, 3)
    assert replies[-1].body == f"echo: {text}"


async def test_a_code_sent_on_instagram_links_the_account(harness: Harness) -> None:
    web, code = await web_chat_with_code(harness)
    event = harness.meta.message_event(IGSID, f"ecco il codice {code}")
    await harness.meta.deliver(harness.instagram_url, harness.meta.batch([[event]]))
    [reply] = await harness.meta.wait_for(IGSID)
    assert reply["text"] == message("link_proof_done", "it")
    assert harness.assistant.calls == []
    assert await owner(harness, "instagram", IGSID) == web
    [notice] = await web_notices(harness, web)
    assert "Instagram" in notice.text


async def test_guessing_codes_on_whatsapp_gets_nowhere(harness: Harness) -> None:
    web, code = await web_chat_with_code(harness)
    guesses = [new_code() for _ in range(ProofOptions().failures_per_sender)]
    for count, guess in enumerate([*guesses, code], start=1):
        await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, guess))
        replies = await harness.twilio.wait_for(NUMBER, count)
        # A wrong code is no special case: the assistant answers it like any message.
        assert replies[-1].body == f"echo: {guess}"
    # After 5 wrong ones even the right code is not looked at from this number.
    attacker = await owner(harness, "whatsapp", NUMBER)
    assert attacker is not None and attacker != web
    assert len(harness.assistant.calls) == len(guesses) + 1
    assert await web_notices(harness, web) == []
    # The shopper's own number still links with it.
    other = "+393339999999"
    text = message("link_proof_prefill", "it", code=code)
    await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(other, text))
    [reply] = await harness.twilio.wait_for(other)
    assert reply.body == message("link_proof_done", "it")
    assert await owner(harness, "whatsapp", other) == web
