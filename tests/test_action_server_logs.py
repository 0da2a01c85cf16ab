"""The action server's log lines carry the id of the customer message being answered."""

from __future__ import annotations

import json
import logging
from typing import Any

from rasa_sdk import Action
from rasa_sdk.executor import ActionExecutor

from vetrina.observability.action_server import install_message_ids, message_id_of
from vetrina.observability.logs import JsonFormatter


class _Logs(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("actions"))
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


class ActionSaysHi(Action):
    def name(self) -> str:
        return "action_fuzzy_hi"

    async def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def]
        logging.getLogger("actions.test").info("inside the action")
        dispatcher.utter_message(text="hi")
        return []


async def test_an_action_logs_with_the_message_id_rasa_passed() -> None:
    install_message_ids()
    install_message_ids()  # idempotent
    executor = ActionExecutor()
    executor.register_action(ActionSaysHi())
    tracker = {
        "sender_id": "c1", "slots": {}, "events": [], "paused": False, "followup_action": None,
        "active_loop": {}, "latest_action_name": "action_listen",
        "latest_message": {"text": "ciao", "intent": {}, "entities": [],
                           "metadata": {"vetrina_message_id": 4242}},
    }
    call = {"next_action": "action_fuzzy_hi", "sender_id": "c1", "tracker": tracker, "domain": {}}
    assert message_id_of(call) == 4242
    handler = _Logs()
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    try:
        response = await executor.run(call)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    assert response and response["responses"][0]["text"] == "hi"
    inside = [line for line in handler.lines if line["msg"] == "inside the action"]
    assert inside and inside[0]["message_id"] == 4242
