"""The Rasa client tells a failed turn (200 with no messages, nothing in the tracker) from a
silent one, so a turn Rasa dropped while its lock or tracker store was down is retried."""

from __future__ import annotations

import httpx
import pytest

from integrations.rasa import RasaAssistant
from vetrina.conversations.ports import AssistantUnavailable, Turn

TURN = Turn(41, "customer-1", "web", "ciao", {"vetrina_message_id": 41})


def assistant(rest: list[dict[str, object]], events: list[dict[str, object]]) -> RasaAssistant:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/webhooks/rest/webhook":
            return httpx.Response(200, json=rest)
        assert request.url.path == "/conversations/customer-1/tracker"
        return httpx.Response(200, json={"events": events})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return RasaAssistant(client, "http://rasa", "token", 5)


async def test_no_messages_and_no_turn_in_the_tracker_is_a_failure() -> None:
    with pytest.raises(AssistantUnavailable):
        await assistant([], [{"event": "action", "name": "action_listen"}]).reply(TURN)


async def test_no_messages_for_a_recorded_turn_is_a_silent_turn() -> None:
    events = [
        {"event": "user", "text": "ciao", "metadata": {"vetrina_message_id": 41}},
        {"event": "action", "name": "action_listen"},
    ]
    assert await assistant([], events).reply(TURN) == []


async def test_messages_are_the_replies() -> None:
    replies = await assistant([{"text": "Ciao!"}], []).reply(TURN)
    assert [r.text for r in replies] == ["Ciao!"]
