"""Rasa's side of a handoff, against the real Rasa server: paused, it predicts nothing
even when a message reaches it; recorded messages keep the context; resumed, it says it
is back (utter_handoff_back) and answers again."""

from __future__ import annotations

import uuid

import httpx
import pytest

from integrations.rasa import RasaAssistant
from integrations.rasa_tracker import RasaTracker
from tests.stack_fixtures import RunningStack
from vetrina.conversations.ports import Turn

pytestmark = pytest.mark.integration


async def test_pause_record_resume(rasa_stack: RunningStack) -> None:
    stack = rasa_stack.stack
    base = f"http://127.0.0.1:{stack.ports.rasa}"
    sender = uuid.uuid4().hex
    async with httpx.AsyncClient() as http:
        tracker = RasaTracker(http, base, stack.token, 30)
        assistant = RasaAssistant(http, base, stack.token, 30)
        hello = await assistant.reply(Turn(1, sender, "web", "ciao", {"vetrina_message_id": 1}))
        assert hello, "Rasa answers before the pause"

        await tracker.pause(sender)
        silent = await http.post(
            f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": "ciao di nuovo"}
        )
        assert silent.status_code == 200
        assert silent.json() == []  # Rasa itself refuses to predict while paused
        await tracker.remember(Turn(3, sender, "web", "avete il trench nero in M a Milano?", {}))
        await tracker.remember_reply(sender, "Sì, è disponibile!", "Giulia")

        response = await http.get(
            f"{base}/conversations/{sender}/tracker", params={"token": stack.token}
        )
        events = response.json()["events"]
        kinds = [e["event"] for e in events]
        assert "pause" in kinds
        recorded = [e for e in events if e["event"] == "user" and e["text"].startswith("avete")]
        assert recorded and recorded[0]["parse_data"]["intent"]["name"]
        assert recorded[0]["metadata"]["vetrina_consultant_turn"] == 3
        assert any(e["event"] == "bot" and e.get("text") == "Sì, è disponibile!" for e in events)

        back = await tracker.resume(sender)
        assert back and "assistente automatico" in back[0].text, back
        again = await assistant.reply(Turn(4, sender, "web", "ciao", {"vetrina_message_id": 4}))
        assert again, "Rasa answers again after the resume"
