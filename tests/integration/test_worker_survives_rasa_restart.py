"""Rasa goes down mid-conversation: the message is kept, and answered once when it is back.

Runs last among the integration tests (file order) because it restarts the shared Rasa.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.chat_client import WebCustomer
from tests.stack_fixtures import Gateway, RunningStack
from vetrina.conversations.models import Message

pytestmark = pytest.mark.integration


async def test_message_survives_rasa_restart_and_is_answered_exactly_once(
    gateway: Gateway, rasa_stack: RunningStack
) -> None:
    customer = await WebCustomer(gateway.url).connect()
    try:
        await customer.say("ciao")
        rasa_stack.rasa.stop()

        await customer.send("cosa sai fare?")
        ack = await customer.next("message_ack", timeout=10)
        notice = await customer.next("notice", timeout=20)
        assert notice["kind"] == "delayed" and notice["text"]
        async with gateway.services.db.sessions() as session:
            kept = await session.get_one(Message, ack["id"])
        assert kept.status in {"received", "processing"} and kept.text == "cosa sai fare?"
        assert customer.events["bot_uttered"].empty()

        await asyncio.to_thread(rasa_stack.restart_rasa)
        first = await customer.next("bot_uttered", timeout=60)
        await asyncio.sleep(5)  # room for a duplicate to show up, if there were one
        history = await customer.history()
    finally:
        await customer.close()

    answers = [m for m in history if m["direction"] == "out"]
    asked = [m for m in history if m["direction"] == "in"]
    assert [m["text"] for m in asked] == ["ciao", "cosa sai fare?"]
    async with gateway.services.db.sessions() as session:
        message = await session.get_one(Message, ack["id"])
    assert message.status == "processed" and message.attempts >= 2
    replies = [m for m in answers if m["id"] > ack["id"]]
    assert replies and replies[0]["text"] == first["text"]
    assert customer.events["bot_uttered"].qsize() == len(replies) - 1

    # Rasa itself saw the turn exactly once.
    stack = rasa_stack.stack
    async with httpx.AsyncClient() as client:
        tracker = await client.get(
            f"http://127.0.0.1:{stack.ports.rasa}/conversations/{message.customer_id}/tracker",
            params={"token": stack.token},
        )
    turns = [
        e for e in tracker.json()["events"]
        if e["event"] == "user" and (e.get("metadata") or {}).get("vetrina_message_id") == ack["id"]
    ]
    assert len(turns) == 1
