"""The assistant answers in the customer's language.

`choose_language` is the decision; `ValidateSlotMappings` applies it after every user
message. The action tests run it the rasa-sdk way: a `Tracker` and a
`CollectingDispatcher` in, the exact `SlotSet` events out.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher

from actions import language as language_module
from actions.language import choose_language, language_from_entity, requested_language
from actions.slots import ValidateSlotMappings
from tests.actions.support import load_domain

ITALIAN_TEXT = "vorrei sapere se avete questa giacca nera in taglia 44"
ENGLISH_TEXT = "I would like to know if you have this black jacket in a size 12"


def lang_entity(value: Any) -> dict[str, Any]:
    return {"entity": "language", "value": value, "start": 0, "end": 3}


# --- choose_language ------------------------------------------------------------------


class TestExplicitRequest:
    @pytest.mark.parametrize("current", [None, "it", "en"])
    @pytest.mark.parametrize("chosen", [None, False, True])
    def test_switch_language_entity_wins_and_marks_chosen(self, current, chosen):
        result = choose_language(
            current, chosen, "in inglese per favore", "switch_language", [lang_entity("en")], {}
        )
        assert result == ("en", True)

    def test_request_wins_over_the_language_of_the_text(self):
        # Written in English, asking for Italian.
        result = choose_language(
            "en", False, "can you speak italian?", "switch_language", [lang_entity("it")], {}
        )
        assert result == ("it", True)

    def test_request_wins_over_metadata(self):
        result = choose_language(
            None, None, "ita", "switch_language", [lang_entity("it")], {"language": "en"}
        )
        assert result == ("it", True)

    def test_unmapped_entity_spelling_is_still_understood(self):
        # The synonym mapper missed a spelling: the raw text reaches the action.
        result = choose_language(
            "it", True, "Englisch bitte", "switch_language", [lang_entity("Englisch")], {}
        )
        assert result == ("en", True)

    def test_first_usable_language_entity_is_taken(self):
        entities = [{"entity": "size", "value": "42"}, lang_entity("francese"), lang_entity("it")]
        assert requested_language("switch_language", entities) == "it"

    def test_entity_without_switch_intent_is_not_a_request(self):
        assert requested_language("greet", [lang_entity("en")]) is None

    def test_unsupported_language_is_not_a_request(self, monkeypatch):
        monkeypatch.setattr(language_module, "detect_language", lambda text, current=None: None)
        result = choose_language(
            "it", True, "en français", "switch_language", [lang_entity("francese")], {}
        )
        assert result == ("it", True)

    def test_switch_intent_without_entity_falls_back_to_detection(self):
        result = choose_language(None, False, ENGLISH_TEXT, "switch_language", [], {})
        assert result == ("en", False)


class TestDetection:
    def test_italian_text(self):
        assert choose_language(None, False, ITALIAN_TEXT, "out_of_scope", [], {}) == ("it", False)

    def test_english_text(self):
        assert choose_language(None, None, ENGLISH_TEXT, "out_of_scope", [], {}) == ("en", False)

    def test_follows_a_customer_who_changes_language_without_asking(self):
        assert choose_language("it", False, "hello, good morning", "greet", [], {}) == (
            "en",
            False,
        )

    def test_short_greetings_are_recognised(self):
        assert choose_language(None, False, "Ciao!", "greet", [], {}) == ("it", False)
        assert choose_language(None, False, "hi", "greet", [], {}) == ("en", False)

    def test_not_used_once_the_customer_chose(self):
        assert choose_language("it", True, ENGLISH_TEXT, "out_of_scope", [], {}) == ("it", True)
        assert choose_language("en", True, "grazie mille", "thanks", [], {}) == ("en", True)

    def test_undetectable_text_keeps_the_current_language(self):
        assert choose_language("en", False, "ok", "thanks", [], {}) == ("en", False)

    def test_button_payload_keeps_the_current_language(self):
        assert choose_language("en", False, "/ask_capabilities", "ask_capabilities", [], {}) == (
            "en",
            False,
        )

    def test_not_understood_message_keeps_a_known_language(self):
        # Gibberish: the detector still picks a language, the NLU did not understand.
        assert choose_language("it", False, "fhqwhgads", "nlu_fallback", [], {}) == ("it", False)
        assert choose_language("en", None, ITALIAN_TEXT, "nlu_fallback", [], {}) == ("en", False)

    def test_not_understood_message_prefers_metadata_for_an_unknown_language(self):
        result = choose_language(None, False, "fhqwhgads", "nlu_fallback", [], {"language": "it"})
        assert result == ("it", False)

    def test_not_understood_message_sets_an_unknown_language_as_a_last_resort(self):
        assert choose_language(None, False, ITALIAN_TEXT, "nlu_fallback", [], {}) == ("it", False)
        assert choose_language(None, False, ENGLISH_TEXT, "nlu_fallback", [], None) == ("en", False)

    def test_detection_wins_over_metadata(self):
        result = choose_language(None, False, ITALIAN_TEXT, "out_of_scope", [], {"language": "en"})
        assert result == ("it", False)


class TestMetadata:
    @pytest.fixture(autouse=True)
    def undetectable(self, monkeypatch):
        monkeypatch.setattr(language_module, "detect_language", lambda text, current=None: None)

    @pytest.mark.parametrize("tag, expected", [("en", "en"), ("en-GB", "en"), ("it_IT", "it")])
    def test_used_when_nothing_else_is_known(self, tag, expected):
        assert choose_language(None, False, "ok", "greet", [], {"language": tag}) == (
            expected,
            False,
        )

    def test_ignored_when_a_language_is_known(self):
        assert choose_language("it", False, "ok", "greet", [], {"language": "en"}) == ("it", False)

    @pytest.mark.parametrize("metadata", [None, {}, {"language": None}, {"language": "de"}])
    def test_missing_or_unsupported_leaves_the_language_unknown(self, metadata):
        assert choose_language(None, None, "ok", "greet", [], metadata) == (None, False)

    def test_keeps_the_chosen_flag(self):
        # A stale chosen flag without a language (should not happen) is not dropped.
        assert choose_language(None, True, "ok", "greet", [], {"language": "en"}) == ("en", True)


def test_current_value_is_normalised():
    assert choose_language("EN", True, "", None, None, None) == ("en", True)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("en", "en"),
        ("it", "it"),
        ("EN", "en"),
        ("English", "en"),
        ("inglese", "en"),
        ("Italiano", "it"),
        ("italian", "it"),
        ("francese", None),
        ("", None),
        (None, None),
        (3, None),
    ],
)
def test_language_from_entity(value, expected):
    assert language_from_entity(value) == expected


# --- the action ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def domain() -> dict[str, Any]:
    return load_domain()


def make_tracker(
    text: str,
    intent: str,
    entities: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    slots: dict[str, Any] | None = None,
) -> Tracker:
    parse_data = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.97},
        "entities": entities or [],
        "metadata": metadata or {},
    }
    events = [
        {"event": "action", "name": "action_session_start"},
        {"event": "session_started"},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": parse_data, "metadata": metadata or {}},
    ]
    return Tracker(
        sender_id="customer-1",
        slots={"language": None, "language_chosen": None, **(slots or {})},
        latest_message=parse_data,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


async def run_action(tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    events = await ValidateSlotMappings().run(dispatcher, tracker, domain)
    assert dispatcher.messages == []
    return events


def test_action_name_matches_the_domain(domain):
    assert ValidateSlotMappings().name() == "action_validate_slot_mappings"
    assert "action_validate_slot_mappings" in domain["actions"]
    for slot in ("language", "language_chosen"):
        assert domain["slots"][slot]["mappings"] == [{"type": "custom"}]
        assert domain["slots"][slot]["influence_conversation"] is False


async def test_switch_language_sets_language_and_chosen(domain):
    tracker = make_tracker(
        "in inglese per favore", "switch_language", [lang_entity("en")], slots={"language": "it"}
    )
    assert await run_action(tracker, domain) == [
        SlotSet("language", "en"),
        SlotSet("language_chosen", True),
    ]


async def test_button_payload_switch(domain):
    tracker = make_tracker(
        '/switch_language{"language": "it"}',
        "switch_language",
        [{"entity": "language", "value": "it"}],
        slots={"language": "en", "language_chosen": False},
    )
    assert await run_action(tracker, domain) == [
        SlotSet("language", "it"),
        SlotSet("language_chosen", True),
    ]


async def test_first_italian_message_sets_italian(domain):
    tracker = make_tracker("ciao", "greet")
    assert await run_action(tracker, domain) == [SlotSet("language", "it")]


async def test_first_english_message_sets_english(domain):
    tracker = make_tracker("hello there", "greet", metadata={"language": "it"})
    assert await run_action(tracker, domain) == [SlotSet("language", "en")]


async def test_metadata_language_when_the_text_cannot_tell(domain):
    tracker = make_tracker("ok", "thanks", metadata={"language": "en-US"})
    assert await run_action(tracker, domain) == [SlotSet("language", "en")]


async def test_no_events_when_nothing_changes(domain):
    tracker = make_tracker("grazie mille", "thanks", slots={"language": "it"})
    assert await run_action(tracker, domain) == []


async def test_chosen_language_is_kept(domain):
    tracker = make_tracker(
        ENGLISH_TEXT, "out_of_scope", slots={"language": "it", "language_chosen": True}
    )
    assert await run_action(tracker, domain) == []


async def test_gibberish_keeps_the_language(domain):
    tracker = make_tracker("fhqwhgads", "nlu_fallback", slots={"language": "it"})
    assert await run_action(tracker, domain) == []


async def test_nothing_known_sets_nothing(domain):
    tracker = make_tracker("ok", "thanks")
    assert await run_action(tracker, domain) == []


async def test_action_server_registers_and_runs_the_action(domain):
    """What `python -m rasa_sdk --actions actions` does with a request from Rasa."""
    executor = ActionExecutor()
    executor.register_package("actions")
    assert "action_validate_slot_mappings" in executor.actions

    tracker = make_tracker("hello, good morning", "greet")
    response = await executor.run(
        {
            "next_action": "action_validate_slot_mappings",
            "sender_id": tracker.sender_id,
            "tracker": tracker.current_state(),
            "domain": domain,
            "version": "3.6.21",
        }
    )
    assert response == {
        "events": [{"event": "slot", "timestamp": None, "name": "language", "value": "en"}],
        "responses": [],
    }


# --- the responses ------------------------------------------------------------------


def test_every_response_exists_in_both_languages(domain):
    """Italian unconditioned (the default), English conditioned on the language slot."""
    from vetrina.language import detect_language

    english = [{"type": "slot", "name": "language", "value": "en"}]
    for name, variations in domain["responses"].items():
        italian_texts = [v["text"] for v in variations if not v.get("condition")]
        english_texts = [v["text"] for v in variations if v.get("condition") == english]
        assert italian_texts and english_texts, name
        assert len(italian_texts) + len(english_texts) == len(variations), name
        if name.startswith("utter_label_"):
            continue  # single words used inside other messages: too short to detect
        for text in italian_texts:
            assert detect_language(re.sub(r"\{\w+\}", "", text)) == "it", (name, text)
        for text in english_texts:
            assert detect_language(re.sub(r"\{\w+\}", "", text)) == "en", (name, text)


@pytest.mark.parametrize("place", ["Bergamo", "Verona", "Firenze"])
def test_a_place_name_does_not_switch_an_english_customer_to_italian(place: str) -> None:
    # One Italian-looking word is not "clearly the other language" (vetrina/language.py).
    assert choose_language("en", False, place, "inform", [], {}) == ("en", False)
