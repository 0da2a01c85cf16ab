"""WhatsApp through the gateway: signed webhooks in, the fake Twilio out."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from tests.channels.conftest import MAX_BYTES, TWILIO_FROM, Harness, make_harness
from tests.fakes import FakeAssistant
from vetrina.conversations.models import Author, Direction, Message, OutboundStatus
from vetrina.conversations.ports import BotReply, Button, Turn
from vetrina.customers.models import Customer
from vetrina.storage.base import utcnow

NUMBER = "+393331234567"


async def post_form(url: str, body: bytes | str, signature: str | None,
                    content_type: str = "application/x-www-form-urlencoded") -> tuple[int, str]:
    headers = {"Content-Type": content_type}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    async with aiohttp.ClientSession() as client, client.post(url, data=body, headers=headers) as response:
        return response.status, await response.text()


async def test_text_message_is_stored_answered_and_delivery_recorded(harness: Harness) -> None:
    params = harness.twilio.incoming(NUMBER, "Ciao, avete il trench nero?", profile_name="Giulia")
    status, body = await harness.twilio.deliver(harness.whatsapp_url, params)
    assert status == 200 and "<Response>" in body

    [reply] = await harness.twilio.wait_for(NUMBER)
    assert reply.body == "echo: Ciao, avete il trench nero?"
    assert reply.from_ == TWILIO_FROM
    assert reply.status_callback.startswith(f"{harness.public_url}/webhooks/whatsapp/status")

    [inbound] = await harness.messages(direction="in")
    assert (inbound.channel, inbound.provider_message_id) == ("whatsapp", params["MessageSid"])
    identity = await harness.identity("whatsapp", NUMBER)
    assert identity is not None and identity.display_name == "Giulia"

    async def delivered() -> bool:
        [out] = await harness.messages(direction="out")
        return out.status == OutboundStatus.DELIVERED.value and out.provider_message_id == reply.sid

    await harness.until(delivered)
    assert [s for s, answered in harness.twilio.callbacks] == ["sent", "delivered"]
    assert all(answered == 204 for _, answered in harness.twilio.callbacks)


async def test_second_message_continues_the_same_customer(harness: Harness) -> None:
    for text in ("ciao", "ancora io"):
        await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, text))
    await harness.twilio.wait_for(NUMBER, 2)
    inbound = await harness.messages(direction="in")
    assert len({m.customer_id for m in inbound}) == 1
    assert await harness.count(Customer) == 1


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "forged"])
async def test_forged_or_missing_signature_is_refused_and_nothing_stored(
    harness: Harness, signature: str | None
) -> None:
    params = harness.twilio.incoming(NUMBER, "ciao")
    status, _ = await post_form(
        harness.whatsapp_url, aiohttp_form(params), signature
    )
    assert status == 403
    await harness.quiet(0.3)
    assert await harness.count(Message) == 0 and await harness.count(Customer) == 0
    assert harness.twilio.messages == []


def aiohttp_form(params: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


async def test_signature_over_other_parameters_is_refused(harness: Harness) -> None:
    params = harness.twilio.incoming(NUMBER, "ciao")
    signature = harness.twilio.sign(harness.whatsapp_url, params)
    tampered = {**params, "Body": "ciao, cambiato"}
    status, _ = await post_form(harness.whatsapp_url, aiohttp_form(tampered), signature)
    assert status == 403
    assert await harness.count(Message) == 0


async def test_signature_made_with_another_auth_token_is_refused(harness: Harness) -> None:
    from twilio.request_validator import RequestValidator

    params = harness.twilio.incoming(NUMBER, "ciao")
    signature = RequestValidator("someone-elses-token").compute_signature(harness.whatsapp_url, params)
    status, _ = await harness.twilio.deliver(harness.whatsapp_url, params, signature=signature)
    assert status == 403
    assert await harness.count(Message) == 0


async def test_signature_is_checked_against_the_public_url_behind_a_proxy(tmp_path: Path) -> None:
    public = "https://chat.example.com"
    async with make_harness(tmp_path, VETRINA_PUBLIC_URL=public) as harness:
        params = harness.twilio.incoming(NUMBER, "ciao")
        # Twilio signs the URL it was given: the public https one, not the local address.
        signed_public = harness.twilio.sign(f"{public}/webhooks/whatsapp", params)
        signed_local = harness.twilio.sign(harness.whatsapp_url, params)
        refused, _ = await harness.twilio.deliver(harness.whatsapp_url, params, signature=signed_local)
        accepted, _ = await harness.twilio.deliver(harness.whatsapp_url, params, signature=signed_public)
        assert (refused, accepted) == (403, 200)
        assert len(await harness.messages(direction="in")) == 1


async def test_status_callback_with_a_forged_signature_changes_nothing(harness: Harness) -> None:
    await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, "ciao"))
    [reply] = await harness.twilio.wait_for(NUMBER)
    await harness.quiet()
    [out] = await harness.messages(direction="out")
    url = f"{harness.url}/webhooks/whatsapp/status?message_id={out.id}"
    params = {"MessageSid": reply.sid, "MessageStatus": "failed", "ErrorCode": "30003",
              "AccountSid": harness.twilio.account_sid}
    status, _ = await harness.twilio.deliver(url, params, signature="forged")
    assert status == 403
    [out] = await harness.messages(direction="out")
    assert out.status == OutboundStatus.DELIVERED.value


async def test_same_webhook_five_times_concurrently_is_one_message_and_one_reply(
    harness: Harness,
) -> None:
    params = harness.twilio.incoming(NUMBER, "ciao")
    results = await asyncio.gather(
        *(harness.twilio.deliver(harness.whatsapp_url, params) for _ in range(5))
    )
    assert [status for status, _ in results] == [200] * 5
    await harness.twilio.wait_for(NUMBER)
    await harness.quiet(1.0)
    assert len(await harness.messages(direction="in")) == 1
    assert len(harness.assistant.calls) == 1
    assert len(harness.twilio.sent_to(NUMBER)) == 1
    assert len(await harness.messages(direction="out")) == 1


async def test_provider_500_is_retried_and_the_reply_delivered_once(harness: Harness) -> None:
    harness.twilio.fail_next(1, status=500)
    await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, "ciao"))
    await harness.twilio.wait_for(NUMBER)
    await harness.quiet(1.0)
    assert len(harness.twilio.sent_to(NUMBER)) == 1
    assert harness.twilio.create_requests == 2
    [out] = await harness.messages(direction="out")
    assert out.attempts == 2 and out.status in {"sent", "delivered"}


async def test_provider_400_is_final_and_recorded(harness: Harness) -> None:
    harness.twilio.fail_next(1, status=400, code=21211, message="Invalid 'To' Phone Number")
    await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, "ciao"))

    async def failed() -> Message | None:
        rows = await harness.messages(direction="out", status="failed")
        return rows[0] if rows else None

    out = await harness.until(failed)
    assert "21211" in (out.last_error or "")
    assert harness.twilio.create_requests == 1


@pytest.mark.parametrize(
    "body",
    [b"Body=ciao&From", b"Body=%ff%fe&From=whatsapp%3A%2B39", b"\xff\xfe\xfd", b"a=1&&b==&"],
)
async def test_malformed_form_bodies_get_400_and_nothing_stored(harness: Harness, body: bytes) -> None:
    status, _ = await post_form(harness.whatsapp_url, body, signature="anything")
    assert status == 400
    assert await harness.count(Message) == 0


async def test_signed_request_without_message_sid_gets_400(harness: Harness) -> None:
    params = {"From": f"whatsapp:{NUMBER}", "Body": "ciao"}
    status, _ = await harness.twilio.deliver(harness.whatsapp_url, params)
    assert status == 400
    assert await harness.count(Message) == 0


async def test_json_body_is_refused(harness: Harness) -> None:
    status, _ = await post_form(
        harness.whatsapp_url, json.dumps({"Body": "ciao"}), "sig", content_type="application/json"
    )
    assert status == 400


async def test_oversized_bodies_get_413_and_nothing_stored(harness: Harness) -> None:
    params = harness.twilio.incoming(NUMBER, "x" * (MAX_BYTES + 10))
    status, _ = await harness.twilio.deliver(harness.whatsapp_url, params)
    assert status == 413

    async def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(MAX_BYTES // 1000 + 2):
            yield b"Body=" + b"y" * 1000 + b"&"

    async with aiohttp.ClientSession() as client, client.post(
        harness.whatsapp_url, data=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "s"},
    ) as response:
        assert response.status == 413
    assert await harness.count(Message) == 0


async def test_image_keeps_media_urls_and_caption(harness: Harness) -> None:
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    params = harness.twilio.incoming(NUMBER, "", media=[(url, "image/jpeg")])
    await harness.twilio.deliver(harness.whatsapp_url, params)
    await harness.twilio.wait_for(NUMBER)
    [inbound] = await harness.messages(direction="in")
    assert inbound.text == "[image]"
    assert inbound.payload["metadata"]["media"] == [{"url": url, "content_type": "image/jpeg"}]


async def test_shared_location_reaches_the_assistant_as_coordinates(harness: Harness) -> None:
    params = harness.twilio.incoming(NUMBER, latitude=45.4642, longitude=9.19, label="Duomo")
    await harness.twilio.deliver(harness.whatsapp_url, params)
    await harness.twilio.wait_for(NUMBER)
    [inbound] = await harness.messages(direction="in")
    assert inbound.text == "📍 45.4642, 9.1900 (Duomo)"
    assert inbound.payload["metadata"]["location"] == {"lat": 45.4642, "lon": 9.19, "label": "Duomo"}
    [turn] = harness.assistant.calls
    assert turn.text == '/share_location{"latitude": 45.4642, "longitude": 9.19}'
    assert turn.metadata["location"]["lat"] == 45.4642


class SizeAssistant(FakeAssistant):
    """Offers two buttons on the first message, echoes afterwards."""

    async def reply(self, turn: Turn) -> list[BotReply]:
        self.calls.append(turn)
        if len(self.calls) == 1:
            return [BotReply("Which size?", buttons=(
                Button("Small", '/choose_size{"size": "S"}'),
                Button("Large", '/choose_size{"size": "L"}'),
            ))]
        return [BotReply(f"echo: {turn.text}")]


@pytest.mark.parametrize("answer", ["2", " 2. ", "2️⃣", "large", "LARGE!"])
async def test_numbered_list_reply_selects_the_option(tmp_path: Path, answer: str) -> None:
    async with make_harness(tmp_path, assistant=SizeAssistant()) as harness:
        await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, "hi"))
        [offer] = await harness.twilio.wait_for(NUMBER)
        assert "1. Small\n2. Large" in offer.body
        await harness.until(lambda: harness.messages(direction="out", status="delivered"))
        await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, answer))
        await harness.twilio.wait_for(NUMBER, 2)
        assert harness.assistant.calls[1].text == '/choose_size{"size": "L"}'
        stored = (await harness.messages(direction="in"))[1]
        assert stored.text == answer.strip() and stored.payload["metadata"]["chosen_option"] == "Large"


async def test_a_number_without_an_offer_is_just_text(tmp_path: Path) -> None:
    async with make_harness(tmp_path, assistant=SizeAssistant()) as harness:
        await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, "hi"))
        await harness.twilio.wait_for(NUMBER)
        await harness.until(lambda: harness.messages(direction="out", status="delivered"))
        await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, "3"))
        await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, "2"))
        await harness.twilio.wait_for(NUMBER, 3)
        # "3" is not an option; "2" comes after a reply without buttons: both stay text.
        assert [t.text for t in harness.assistant.calls[1:]] == ["3", "2"]


async def test_long_reply_is_split_at_sentence_boundaries(tmp_path: Path) -> None:
    sentence = "Il trench nero è disponibile a Milano e a Torino in tutte le taglie. "
    long_text = (sentence * 40).strip()

    class Chatty(FakeAssistant):
        async def reply(self, turn: Turn) -> list[BotReply]:
            self.calls.append(turn)
            return [BotReply(long_text)]

    async with make_harness(tmp_path, assistant=Chatty()) as harness:
        await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, "info"))
        await harness.until(lambda: len(harness.twilio.sent_to(NUMBER)) >= 2)
        await harness.quiet()
        parts = [m.body for m in harness.twilio.sent_to(NUMBER)]
        assert len(parts) == 2 and all(len(p) <= 1600 for p in parts)
        assert all(p.endswith("taglie.") for p in parts)
        assert " ".join(parts) == long_text
        [out] = await harness.messages(direction="out")
        assert out.provider_message_id == ",".join(m.sid for m in harness.twilio.sent_to(NUMBER))
        assert out.status == "delivered"


async def test_transient_delivery_failure_is_sent_again(harness: Harness) -> None:
    harness.twilio.fail_delivery_next(30008)
    await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, "ciao"))
    await harness.twilio.wait_for(NUMBER, 2)
    await harness.quiet()
    [out] = await harness.messages(direction="out")
    assert out.status == "delivered" and out.attempts == 2
    assert out.provider_message_id == harness.twilio.sent_to(NUMBER)[1].sid


@pytest.mark.parametrize(("code", "status"), [(30003, "failed"), (63016, "held")])
async def test_final_delivery_failure_is_recorded(harness: Harness, code: int, status: str) -> None:
    harness.twilio.fail_delivery_next(code)
    await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, "ciao"))
    await harness.until(lambda: harness.messages(direction="out", status=status))
    await harness.quiet()
    [out] = await harness.messages(direction="out")
    assert str(code) in (out.last_error or "")
    assert len(harness.twilio.sent_to(NUMBER)) == 1


async def customer_wrote(harness: Harness, ago: timedelta) -> tuple[str, int]:
    """A customer whose only (answered) message is ``ago`` old: (customer id, conversation id)."""
    from vetrina.conversations.models import Conversation
    from vetrina.customers.identities import resolve_customer

    async with harness.services.db.transaction() as session:
        customer = await resolve_customer(session, "whatsapp", NUMBER, display_name="Giulia")
        conversation = Conversation(customer_id=customer.id)
        session.add(conversation)
        await session.flush()
        session.add(Message(
            conversation_id=conversation.id, customer_id=customer.id,
            direction=Direction.IN.value, author=Author.CUSTOMER.value, channel="whatsapp",
            text="ciao", payload={}, provider_message_id="SMold", status="processed",
            created_at=utcnow() - ago,
        ))
        return customer.id, conversation.id


async def queue(harness: Harness, customer_id: str, conversation_id: int, text: str,
                author: str = Author.BOT.value, payload: dict | None = None) -> int:
    async with harness.services.db.transaction() as session:
        message = Message(
            conversation_id=conversation_id, customer_id=customer_id,
            direction=Direction.OUT.value, author=author, channel="whatsapp", text=text,
            payload=payload or {}, status=OutboundStatus.PENDING.value,
        )
        session.add(message)
        await session.flush()
        message_id = message.id
    harness.services.outbox.wake()
    return message_id


async def wait_status(harness: Harness, message_id: int, *statuses: str) -> Message:
    async def settled() -> Message | None:
        async with harness.services.db.sessions() as session:
            row = await session.get(Message, message_id)
        return row if row is not None and row.status in statuses else None

    return await harness.until(settled)


async def test_within_24_hours_a_free_form_message_goes_out(harness: Harness) -> None:
    customer, conversation = await customer_wrote(harness, timedelta(hours=23))
    message_id = await queue(harness, customer, conversation, "Il tuo ordine è pronto")
    await wait_status(harness, message_id, "sent", "delivered")
    [sent] = harness.twilio.sent_to(NUMBER)
    assert sent.body == "Il tuo ordine è pronto" and sent.content_sid is None


async def test_after_24_hours_a_bot_message_is_held_not_dropped(harness: Harness) -> None:
    customer, conversation = await customer_wrote(harness, timedelta(hours=25))
    message_id = await queue(harness, customer, conversation, "Hai ancora bisogno di aiuto?")
    row = await wait_status(harness, message_id, "held", "sent", "failed")
    assert row.status == "held" and "24-hour" in (row.last_error or "")
    assert harness.twilio.sent_to(NUMBER) == []


async def test_after_24_hours_a_reminder_goes_out_as_the_configured_template(tmp_path: Path) -> None:
    async with make_harness(tmp_path, TWILIO_TEMPLATE_BOOKING_REMINDER="HX" + "b" * 32) as harness:
        customer, conversation = await customer_wrote(harness, timedelta(days=3))
        spec = {"template": "booking_reminder", "variables": {"1": "sabato 10:30", "2": "Milano"}}
        message_id = await queue(
            harness, customer, conversation, "Promemoria: sabato 10:30", payload={"must_send": spec}
        )
        await wait_status(harness, message_id, "sent", "delivered")
        [sent] = harness.twilio.sent_to(NUMBER)
        assert sent.content_sid == "HX" + "b" * 32 and sent.body == ""
        assert sent.content_variables == {"1": "sabato 10:30", "2": "Milano"}


async def test_after_24_hours_a_consultant_reply_uses_its_template_or_is_held(tmp_path: Path) -> None:
    async with make_harness(tmp_path, TWILIO_TEMPLATE_CONSULTANT_REPLY="HX" + "c" * 32) as harness:
        customer, conversation = await customer_wrote(harness, timedelta(days=2))
        message_id = await queue(
            harness, customer, conversation, "Ciao, sono Anna del negozio",
            author=Author.CONSULTANT.value,
        )
        await wait_status(harness, message_id, "sent", "delivered")
        [sent] = harness.twilio.sent_to(NUMBER)
        assert sent.content_variables == {"1": "Ciao, sono Anna del negozio"}

    async with make_harness(tmp_path / "no-template") as harness:
        customer, conversation = await customer_wrote(harness, timedelta(days=2))
        spec = {"template": "booking_reminder", "variables": {}}
        held_id = await queue(harness, customer, conversation, "x", payload={"must_send": spec})
        row = await wait_status(harness, held_id, "held", "sent", "failed")
        assert row.status == "held" and "TWILIO_TEMPLATE_BOOKING_REMINDER" in (row.last_error or "")


async def test_a_held_message_does_not_block_the_next_one(harness: Harness) -> None:
    customer, conversation = await customer_wrote(harness, timedelta(hours=30))
    held = await queue(harness, customer, conversation, "vecchio")
    await wait_status(harness, held, "held")
    await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, "eccomi"))
    [reply] = await harness.twilio.wait_for(NUMBER)
    assert reply.body == "echo: eccomi"


async def test_channel_without_credentials_is_off_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="vetrina.gateway.webhooks.providers")
    async with make_harness(tmp_path, TWILIO_AUTH_TOKEN="") as harness:
        status, _ = await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming(NUMBER, "x"))
        assert status == 404
        async with aiohttp.ClientSession() as client, client.get(f"{harness.url}/healthz") as response:
            assert response.status == 200
    lines = [r.getMessage() for r in caplog.records if "WhatsApp channel off" in r.getMessage()]
    assert lines == ["WhatsApp channel off: TWILIO_AUTH_TOKEN not set"]
