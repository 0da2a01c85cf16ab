"""Slots with custom mappings, filled after every user message.

Rasa runs ``action_validate_slot_mappings`` after each user message for the slots
whose mapping is ``type: custom``. There is one such action per assistant: add new
global custom slots here as ``extract_<slot>`` / ``validate_<slot>`` methods.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction
from rasa_sdk.types import DomainDict

from actions.language import choose_language
from vetrina.language import normalise_language

LANGUAGE_SLOT = "language"
LANGUAGE_CHOSEN_SLOT = "language_chosen"


class ValidateSlotMappings(ValidationAction):
    """Fills ``language`` and ``language_chosen`` (see ``actions.language``)."""

    def name(self) -> str:
        return "action_validate_slot_mappings"

    async def extract_language(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        message = tracker.latest_message or {}
        current = tracker.get_slot(LANGUAGE_SLOT)
        chosen = tracker.get_slot(LANGUAGE_CHOSEN_SLOT)
        language, now_chosen = choose_language(
            current=current,
            chosen=chosen,
            text=message.get("text"),
            intent=(message.get("intent") or {}).get("name"),
            entities=message.get("entities"),
            metadata=message.get("metadata"),
        )
        # Only changes become events: an unchanged slot stays out of the tracker.
        changes: dict[str, Any] = {}
        if language != current:
            changes[LANGUAGE_SLOT] = language
        if now_chosen != bool(chosen):
            changes[LANGUAGE_CHOSEN_SLOT] = now_chosen
        return changes

    def validate_language(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return {LANGUAGE_SLOT: normalise_language(value)}

    def validate_language_chosen(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return {LANGUAGE_CHOSEN_SLOT: bool(value)}
