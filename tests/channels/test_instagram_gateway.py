"""Instagram through the gateway: signed (batched) webhooks in, the fake Send API out."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from tests.channels.conftest import IG_ACCOUNT, MAX_BYTES, META_VERIFY, Harness, make_harness
from tests.channels.payloads import INSTAGRAM_BATCH
from tests.fakes import FakeAssistant
from vetrina.conversations.models import Author, Conversation, Direction, Message, OutboundStatus
from vetrina.conversations.ports import BotReply, Button, Turn
from vetrina.customers.identities import resolve_customer
from vetrina.storage.base import utcnow

IGSID = "6543210987654321"


async def post_json(url: str, body: bytes, signature: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    async with aiohttp.ClientSession() as client, client.post(url, data=body, headers=headers) as response:
        return response.status


@pytest.mark.parametrize(
    ("query", "status", "text"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": META_VERIFY, "hub.challenge": "1158201444"}, 200, "1158201444"),
        ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"}, 403, None),
        ({"hub.mode": "unsubscribe", "hub.verify_token": META_VERIFY, "hub.challenge": "1"}, 403, None),
        ({"hub.challenge": "1"}, 403, None),
    ],
)
async def test_webhook_verification(harness: Harness, query: dict, status: int, text: str | None) -> None:
    async with aiohttp.ClientSession() as client, client.get(harness.instagram_url, params=query) as response:
        assert response.status == status
        if text is not None:
            assert await response.text() == text


async def test_text_message_is_answered_and_the_echo_is_not(harness: Harness) -> None:
    harness.meta.profiles[IGSID] = {"name": "Marco Rossi", "username": "marco"}
    event = harness.meta.message_event(IGSID, "hello")
    status, body = await harness.meta.deliver(harness.instagram_url, harness.meta.batch([[event]]))
    assert (status, body) == (200, "EVENT_RECEIVED")
    [reply] = await harness.meta.wait_for(IGSID)
    assert reply["text"] == "echo: hello" and reply["messaging_type"] == "RESPONSE"
    await harness.until(lambda: harness.meta.echo_answers)  # Meta's echo of our reply came back
    await harness.quiet()
    assert harness.meta.echo_answers == [200]
    assert len(harness.assistant.calls) == 1
    assert len(await harness.messages(direction="in")) == 1
    [out] = await harness.messages(direction="out")
    assert out.provider_message_id == reply["mid"]
    await harness.channels.profile_names.wait()
    identity = await harness.identity("instagram", IGSID)
    assert identity is not None and identity.display_name == "Marco Rossi"


async def test_batched_delivery_every_entry_and_event_is_handled(harness: Harness) -> None:
    payload = json.loads(json.dumps(INSTAGRAM_BATCH).replace("17841405793187218", IG_ACCOUNT))
    status, _ = await harness.meta.deliver(harness.instagram_url, payload)
    assert status == 200
    for igsid in ("1111111111111111", "2222222222222222", "3333333333333333"):
        await harness.meta.wait_for(igsid)
    await harness.meta.wait_for("3333333333333333", 2)
    await harness.quiet()
    inbound = {m.provider_message_id: m for m in await harness.messages(direction="in")}
    assert set(inbound) == {"mid.batch.1", "mid.batch.2", "mid.batch.3", "mid.batch.4"}
    assert inbound["mid.batch.1"].text == "[image]"
    assert inbound["mid.batch.1"].payload["metadata"]["media"][0]["type"] == "image"
    assert inbound["mid.batch.2"].payload["metadata"]["story_reply"]["id"] == "17900000000000001"
    assert inbound["mid.batch.3"].payload["metadata"]["story_mention"]["url"].endswith("story/2")
    asked = sorted(t.text for t in harness.assistant.calls)
    # The story mention is thanked with a fixed notice, not sent to the assistant.
    assert asked == sorted(["[image]", "Che bello!", '/choose_size{"size": "M"}'])
    # echo, read and reaction were recognised and not answered
    assert len(harness.meta.sent) == 4
    thanked = [m for m in harness.meta.sent if m["recipient"] == "3333333333333333"]
    assert any(m["text"].startswith(("Grazie per averci menzionato", "Thanks for mentioning")) for m in thanked)


async def test_read_receipt_marks_our_message_read(harness: Harness) -> None:
    await harness.meta.deliver(harness.instagram_url, harness.meta.batch([[harness.meta.message_event(IGSID, "ciao")]]))
    [reply] = await harness.meta.wait_for(IGSID)
    await harness.until(lambda: harness.messages(direction="out", status="sent"))
    read = harness.meta.read_event(IGSID, reply["mid"])
    reaction = harness.meta.reaction_event(IGSID, reply["mid"])
    await harness.meta.deliver(harness.instagram_url, harness.meta.batch([[read, reaction]]))
    await harness.until(lambda: harness.messages(direction="out", status="read"))
    await harness.quiet()
    assert len(harness.assistant.calls) == 1


@pytest.mark.parametrize("signature", [None, "", "sha256=" + "0" * 64, "sha1=abc", "garbage"])
async def test_forged_or_missing_signature_is_refused_and_nothing_stored(
    harness: Harness, signature: str | None
) -> None:
    body = json.dumps(harness.meta.batch([[harness.meta.message_event(IGSID, "ciao")]])).encode()
    assert await post_json(harness.instagram_url, body, signature) == 403
    await harness.quiet(0.3)
    assert await harness.count(Message) == 0 and harness.meta.sent == []


async def test_signature_of_another_body_is_refused(harness: Harness) -> None:
    original = json.dumps(harness.meta.batch([[harness.meta.message_event(IGSID, "ciao")]])).encode()
    tampered = original.replace(b"ciao", b"hola")
    assert await post_json(harness.instagram_url, tampered, harness.meta.sign(original)) == 403
    assert await harness.count(Message) == 0


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"object": "instagram"}', b'"x"', b""])
async def test_malformed_json_gets_400(harness: Harness, body: bytes) -> None:
    assert await post_json(harness.instagram_url, body, harness.meta.sign(body)) == 400
    assert await harness.count(Message) == 0


async def test_oversized_body_gets_413(harness: Harness) -> None:
    event = harness.meta.message_event(IGSID, "x" * (MAX_BYTES + 100))
    status, _ = await harness.meta.deliver(harness.instagram_url, harness.meta.batch([[event]]))
    assert status == 413
    assert await harness.count(Message) == 0


async def test_same_delivery_five_times_concurrently_is_one_message_and_one_reply(
    harness: Harness,
) -> None:
    payload = harness.meta.batch([[harness.meta.message_event(IGSID, "ciao")]])
    results = await asyncio.gather(*(harness.meta.deliver(harness.instagram_url, payload) for _ in range(5)))
    assert [status for status, _ in results] == [200] * 5
    await harness.meta.wait_for(IGSID)
    await harness.quiet(1.0)
    assert len(await harness.messages(direction="in")) == 1
    assert len(harness.assistant.calls) == 1
    assert len(harness.meta.sent_to(IGSID)) == 1


async def test_provider_500_is_retried_and_delivered_once(harness: Harness) -> None:
    harness.meta.fail_next(1, status=500)
    await harness.meta.deliver(harness.instagram_url, harness.meta.batch([[harness.meta.message_event(IGSID, "ciao")]]))
    await harness.meta.wait_for(IGSID)
    await harness.quiet()
    assert len(harness.meta.sent_to(IGSID)) == 1 and harness.meta.send_requests == 2
    [out] = await harness.messages(direction="out")
    assert out.attempts == 2 and out.status == "sent"


async def test_429_waits_as_long_as_the_rate_limit_headers_say(harness: Harness) -> None:
    usage = json.dumps({IG_ACCOUNT: [{"type": "instagram", "call_count": 100,
                                      "estimated_time_to_regain_access": 0}]})
    harness.meta.fail_next(1, status=429, code=4, headers={"Retry-After": "1", "X-Business-Use-Case-Usage": usage})
    started = asyncio.get_running_loop().time()
    await harness.meta.deliver(harness.instagram_url, harness.meta.batch([[harness.meta.message_event(IGSID, "ciao")]]))
    await harness.meta.wait_for(IGSID)
    assert asyncio.get_running_loop().time() - started >= 1.0  # not the 0.05 s backoff
    assert harness.meta.send_requests == 2


async def test_final_error_is_recorded(harness: Harness) -> None:
    harness.meta.fail_next(1, status=400, code=100, transient=False)
    await harness.meta.deliver(harness.instagram_url, harness.meta.batch([[harness.meta.message_event(IGSID, "ciao")]]))
    await harness.until(lambda: harness.messages(direction="out", status="failed"))
    assert harness.meta.send_requests == 1


class ManyOptions(FakeAssistant):
    async def reply(self, turn: Turn) -> list[BotReply]:
        self.calls.append(turn)
        buttons = tuple(Button(f"Option number {i} with a long title", f"/pick{{\"n\": {i}}}") for i in range(15))
        return [BotReply("Pick one", buttons=buttons)]


async def test_quick_replies_respect_meta_limits_and_taps_send_the_payload(tmp_path: Path) -> None:
    async with make_harness(tmp_path, assistant=ManyOptions()) as harness:
        await harness.meta.deliver(harness.instagram_url, harness.meta.batch([[harness.meta.message_event(IGSID, "hi")]]))
        [offer] = await harness.meta.wait_for(IGSID)
        assert len(offer["quick_replies"]) == 13
        assert all(len(q["title"]) <= 20 for q in offer["quick_replies"])
        assert offer["quick_replies"][0]["title"] == "Option number 0 wit…"
        assert "Option number 14 with a long title" in offer["text"]  # none is lost
        tap = harness.meta.message_event(IGSID, offer["quick_replies"][2]["title"],
                                         quick_reply_payload=offer["quick_replies"][2]["payload"])
        await harness.meta.deliver(harness.instagram_url, harness.meta.batch([[tap]]))
        await harness.meta.wait_for(IGSID, 2)
        assert harness.assistant.calls[1].text == '/pick{"n": 2}'


async def old_customer(harness: Harness, ago: timedelta) -> tuple[str, int]:
    async with harness.services.db.transaction() as session:
        customer = await resolve_customer(session, "instagram", IGSID)
        conversation = Conversation(customer_id=customer.id)
        session.add(conversation)
        await session.flush()
        session.add(Message(
            conversation_id=conversation.id, customer_id=customer.id, direction="in",
            author="customer", channel="instagram", text="ciao", payload={},
            provider_message_id="mid.old", status="processed", created_at=utcnow() - ago,
        ))
        return customer.id, conversation.id


async def send_later(harness: Harness, ago: timedelta, author: str) -> Message:
    customer, conversation = await old_customer(harness, ago)
    async with harness.services.db.transaction() as session:
        message = Message(
            conversation_id=conversation, customer_id=customer, direction=Direction.OUT.value,
            author=author, channel="instagram", text="Ti scrivo dal negozio", payload={},
            status=OutboundStatus.PENDING.value,
        )
        session.add(message)
        await session.flush()
        message_id = message.id
    harness.services.outbox.wake()

    async def settled() -> Message | None:
        async with harness.services.db.sessions() as session:
            row = await session.get(Message, message_id)
        return row if row.status != "pending" else None

    return await harness.until(settled)


@pytest.mark.parametrize(
    ("ago", "author", "status", "tag"),
    [
        (timedelta(hours=2), Author.BOT.value, "sent", None),
        (timedelta(days=3), Author.CONSULTANT.value, "sent", "HUMAN_AGENT"),
        (timedelta(days=3), Author.BOT.value, "held", None),
        (timedelta(days=8), Author.CONSULTANT.value, "held", None),
    ],
)
async def test_messaging_window_and_human_agent_tag(
    harness: Harness, ago: timedelta, author: str, status: str, tag: str | None
) -> None:
    row = await send_later(harness, ago, author)
    assert row.status == status
    if status == "sent":
        [sent] = harness.meta.sent_to(IGSID)
        assert sent["tag"] == tag
        assert sent["messaging_type"] == ("MESSAGE_TAG" if tag else "RESPONSE")
    else:
        assert harness.meta.sent_to(IGSID) == [] and "window" in (row.last_error or "")
