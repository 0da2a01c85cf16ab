"""Running rasa-sdk actions in tests: a Tracker in, the messages and events out, and the
check that every response sent exists in the domain (bot/domain/*.yml) in both languages.

Each :func:`run` checks the messages of that call, inside the test that made it, so a
test passes or fails on its own, in any order (pytest-randomly) and alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from ruamel.yaml import YAML

BOT = Path(__file__).resolve().parents[2] / "bot"
CUSTOMER = "c0ffee00c0ffee00c0ffee00c0ffee00"
ENGLISH = [{"type": "slot", "name": "language", "value": "en"}]


def load_domain(bot: Path = BOT) -> dict[str, Any]:
    """The domain as Rasa merges it: every file of bot/domain/ (or one bot/domain.yml)."""
    files = sorted((bot / "domain").glob("*.yml")) or [bot / "domain.yml"]
    merged: dict[str, Any] = {}
    for path in files:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
        for key, value in data.items():
            if isinstance(value, dict):
                clash = set(merged.setdefault(key, {})) & set(value)
                assert not clash, f"{path.name}: {sorted(clash)} defined twice"
                merged[key].update(value)
            elif isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            else:
                merged[key] = value
    return merged


DOMAIN: dict[str, Any] = load_domain()


def tracker(
    text: str,
    intent: str = "check_stock",
    *,
    slots: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    channel: str = "web",
    sender: str = CUSTOMER,
) -> Tracker:
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "entities": entities or [],
        "metadata": metadata or {},
    }
    events = [{"event": "user", "text": text, "input_channel": channel, "parse_data": message}]
    return Tracker(
        sender,
        {"language": "it", **(slots or {})},
        message,
        events,
        False,
        None,
        {},
        "action_listen",
    )


async def run(
    action: Any, t: Tracker, sent: list[dict[str, Any]] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run ``action`` on ``t``; every message it sends is checked against the domain now
    (``sent``, if given, also collects them)."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, DOMAIN)
    check_sent(dispatcher.messages)
    if sent is not None:
        sent.extend(dispatcher.messages)
    return dispatcher.messages, events


def responses(messages: list[dict[str, Any]]) -> list[str]:
    return [m["response"] for m in messages]


def slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def _variables(text: str) -> set[str]:
    return set(re.findall(r"(?<!\{)\{([a-z_]+)\}(?!\})", text))


def check_sent(sent: list[dict[str, Any]]) -> None:
    """Every response sent is in the domain with an Italian default and an English
    variation, and every placeholder of both got a value."""
    for message in sent:
        name = message["response"]
        variations = DOMAIN["responses"].get(name)
        assert variations, f"{name} is not in the domain (bot/domain/)"
        italian = [v for v in variations if not v.get("condition")]
        english = [v for v in variations if v.get("condition") == ENGLISH]
        assert italian and english, f"{name} needs an Italian default and an English variation"
        for variation in italian + english:
            missing = _variables(variation["text"]) - set(message)
            assert not missing, f"{name}: no value for {missing}"


def check_domain_languages() -> None:
    for name, variations in DOMAIN["responses"].items():
        conditions = [v.get("condition") for v in variations]
        assert None in conditions, f"{name}: no Italian default"
        assert any(c and c[0].get("value") == "en" for c in conditions), f"{name}: no English"
