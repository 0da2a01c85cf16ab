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


def test_a_link_button_keeps_its_url_to_the_widget() -> None:
    """Rasa's ``type: web_url`` buttons (link codes' wa.me / ig.me, the calendar) reach the
    stored payload with their URL; other buttons and non-http URLs stay plain."""
    from integrations.rasa import reply_from_rasa

    reply = reply_from_rasa({"text": "t", "buttons": [
        {"title": "WhatsApp", "payload": "https://wa.me/1?text=x", "type": "web_url",
         "url": "https://wa.me/1?text=x"},
        {"title": "Sì", "payload": "/affirm"},
        {"title": "x", "payload": "p", "type": "web_url", "url": "javascript:alert(1)"},
    ]})
    assert reply.to_payload()["buttons"] == [
        {"title": "WhatsApp", "payload": "https://wa.me/1?text=x", "type": "web_url",
         "url": "https://wa.me/1?text=x"},
        {"title": "Sì", "payload": "/affirm"},
        {"title": "x", "payload": "p"},
    ]
