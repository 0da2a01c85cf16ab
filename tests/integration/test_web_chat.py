"""Whole stack: socket.io customer → gateway → real Rasa + action server → reply."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import select

from tests.chat_client import WebCustomer, texts
from tests.stack_fixtures import Gateway
from vetrina.conversations.models import Message
from vetrina.language import detect_language

pytestmark = pytest.mark.integration


async def stored(gateway: Gateway, **where: object) -> list[Message]:
    async with gateway.services.db.sessions() as session:
        query = select(Message).order_by(Message.id)
        for column, value in where.items():
            query = query.where(getattr(Message, column) == value)
        return list((await session.scalars(query)).all())



async def test_ciao_gets_an_italian_greeting_that_says_it_is_automated(gateway: Gateway) -> None:
    customer = await WebCustomer(gateway.url).connect()
    try:
        replies = await customer.say("ciao")
    finally:
        await customer.close()
    answer = texts(replies)
    assert detect_language(answer) == "it", answer
    assert re.search(r"assistente (virtuale|automatico)", answer, re.IGNORECASE), answer


async def test_hello_gets_an_english_greeting_that_says_it_is_automated(gateway: Gateway) -> None:
    customer = await WebCustomer(gateway.url).connect()
    try:
        replies = await customer.say("hello")
    finally:
        await customer.close()
    answer = texts(replies)
    assert detect_language(answer) == "en", answer
    assert re.search(r"(automated|virtual) assistant", answer, re.IGNORECASE), answer


async def test_customer_can_switch_language_and_it_is_remembered(gateway: Gateway) -> None:
    customer = await WebCustomer(gateway.url).connect()
    try:
        await customer.say("buongiorno")
        switched = texts(await customer.say("in inglese per favore"))
        assert detect_language(switched) == "en", switched
        later = texts(await customer.say("cosa sai fare?"))
        assert detect_language(later) == "en", later
    finally:
        await customer.close()


async def test_quick_reply_sends_payload_and_shows_title(gateway: Gateway) -> None:
    customer = await WebCustomer(gateway.url).connect()
    try:
        await customer.say("hello")
        replies = await customer.say("/ask_capabilities", display_text="What can you do?")
        assert texts(replies)
        history = await customer.history()
    finally:
        await customer.close()
    shown = [m["text"] for m in history if m["direction"] == "in"]
    assert shown == ["hello", "What can you do?"]


async def test_history_is_read_back_from_the_database_after_reconnect(gateway: Gateway) -> None:
    first = await WebCustomer(gateway.url).connect()
    try:
        replies = await first.say("ciao")
    finally:
        await first.close()
    again = await WebCustomer(gateway.url, session_id=first.session_id).connect()
    try:
        history = await again.history()
    finally:
        await again.close()
    assert [m["text"] for m in history] == ["ciao"] + [r["text"] for r in replies]
    assert history[0]["author"] == "customer"


async def test_same_message_id_twice_is_stored_and_answered_once(gateway: Gateway) -> None:
    customer = await WebCustomer(gateway.url).connect()
    try:
        await customer.send("ciao", message_id="retry-0000-1111")
        await customer.send("ciao", message_id="retry-0000-1111")
        acks = [await customer.next("message_ack"), await customer.next("message_ack")]
        await customer.next("bot_uttered")
        await asyncio.sleep(2)
        extra = customer.events["bot_uttered"].qsize()
        history = await customer.history()
    finally:
        await customer.close()
    assert acks[0]["id"] == acks[1]["id"] and sorted(a["duplicate"] for a in acks) == [False, True]
    inbound = [m for m in history if m["direction"] == "in"]
    assert len(inbound) == 1
    replies_to_it = await stored(gateway, in_reply_to_id=acks[0]["id"])
    assert len(replies_to_it) == extra + 1  # every reply delivered once, nothing more


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("", "empty_message"),
        ("   \n\t ", "empty_message"),
        ("x" * 10_000, "message_too_long"),
        (None, "invalid_message"),
        (12345, "invalid_message"),
        (["ciao"], "invalid_message"),
    ],
)
async def test_bad_messages_get_a_clear_error_and_store_nothing(
    gateway: Gateway, message: object, code: str
) -> None:
    customer = await WebCustomer(gateway.url).connect()
    try:
        before = len(await stored(gateway))
        await customer.send(message, message_id="bad-input-0001", language="en")
        error = await customer.next("vetrina_error", timeout=10)
        assert len(await stored(gateway)) == before
        assert customer.events["message_ack"].empty()
    finally:
        await customer.close()
    assert error["code"] == code
    assert error["message_id"] == "bad-input-0001"
    assert error["message"]  # a sentence a person can read


@pytest.mark.parametrize("payload", ["just a string", 42, ["list"], None, {"no": "message"}])
async def test_malformed_payloads_do_not_break_the_connection(
    gateway: Gateway, payload: object
) -> None:
    customer = await WebCustomer(gateway.url).connect()
    try:
        await customer.sio.emit("user_uttered", payload)
        error = await customer.next("vetrina_error", timeout=10)
        assert error["code"] in {"invalid_payload", "invalid_message"}
        replies = await customer.say("ciao")  # the same socket still works
        assert texts(replies)
    finally:
        await customer.close()


async def test_control_characters_are_stripped_before_storing(gateway: Gateway) -> None:
    customer = await WebCustomer(gateway.url).connect()
    try:
        await customer.say("ciao\x00\x07 a tutti\ud800")
        history = await customer.history()
    finally:
        await customer.close()
    assert history[0]["text"] == "ciao a tutti\ufffd"


async def test_message_without_a_confirmed_session_is_refused(gateway: Gateway) -> None:
    """Rasa's widgets send session_id with every message; the gateway takes it only from
    the socket that had it confirmed by ``session_request`` (issue 16)."""
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    errors: asyncio.Queue = asyncio.Queue()
    client.on("vetrina_error", lambda data: errors.put_nowait(data))
    await client.connect(gateway.url, transports=["websocket"])
    try:
        await client.emit("user_uttered", {"message": "hello unconfirmed",
                                           "session_id": "rasa-webchat-session-1"})
        error = await asyncio.wait_for(errors.get(), 10)
    finally:
        await client.disconnect()
    assert error["code"] == "no_session"
    assert not await stored(gateway, direction="in", text="hello unconfirmed")


async def test_readyz_reports_every_dependency(gateway: Gateway) -> None:
    async with httpx.AsyncClient() as client:
        ready = await client.get(f"{gateway.url}/readyz")
        health = await client.get(f"{gateway.url}/healthz")
    assert health.status_code == 200
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "rasa": "ok", "action_server": "ok"}


async def test_storefront_and_widget_are_served(gateway: Gateway) -> None:
    async with httpx.AsyncClient() as client:
        page = await client.get(f"{gateway.url}/")
        script = await client.get(f"{gateway.url}/widget.js")
        socket_client = await client.get(f"{gateway.url}/static/vendor/socket.io.min.js")
    assert page.status_code == 200 and '<script src="/widget.js"' in page.text
    assert script.status_code == 200 and "session_request" in script.text
    assert socket_client.status_code == 200
