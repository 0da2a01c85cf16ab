"""Which language the assistant answers in.

The decision is a pure function of what the tracker holds, so it can be tested
without Rasa. The action that applies it lives in ``actions/slots.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from vetrina.language import detect_language, normalise_language

SWITCH_LANGUAGE_INTENT = "switch_language"
# Set by the FallbackClassifier when the message was not understood.
FALLBACK_INTENT = "nlu_fallback"
LANGUAGE_ENTITY = "language"
# Key of the message metadata in which the gateway sends the customer's remembered
# or browser language ("it", "en", "it-IT", ...).
METADATA_LANGUAGE_KEY = "language"

# Entity values the synonym mapper may have missed (an unseen spelling). Codes and
# language tags ("en", "it-IT") are handled by ``normalise_language``.
_ENTITY_PREFIXES = (
    ("ingl", "en"),
    ("engl", "en"),
    ("eng", "en"),
    ("ital", "it"),
    ("ita", "it"),
)


def language_from_entity(value: object) -> str | None:
    """Map a `language` entity value ("en", "English", "inglese") to "it"/"en"."""
    code = normalise_language(value)
    if code is not None or not isinstance(value, str):
        return code
    word = value.strip().lower()
    for prefix, language in _ENTITY_PREFIXES:
        if word.startswith(prefix):
            return language
    return None


def requested_language(
    intent: str | None, entities: Iterable[Mapping[str, Any]] | None
) -> str | None:
    """The language the customer asked for explicitly, if they did."""
    if intent != SWITCH_LANGUAGE_INTENT:
        return None
    for entity in entities or ():
        if entity.get("entity") == LANGUAGE_ENTITY:
            language = language_from_entity(entity.get("value"))
            if language is not None:
                return language
    return None


def choose_language(
    current: str | None,
    chosen: bool | None,
    text: str | None,
    intent: str | None,
    entities: Iterable[Mapping[str, Any]] | None,
    metadata: Mapping[str, Any] | None,
) -> tuple[str | None, bool]:
    """Return the language to answer in and whether the customer chose it explicitly.

    1. ``switch_language`` with a recognised `language` entity: that language, chosen.
    2. Otherwise, unless the customer chose a language before, the language the
       message is written in (when it can be told).
    3. Otherwise, if no language is known yet, the ``language`` metadata key.
    4. Otherwise the current language is kept (it may stay unknown: ``None``).

    A message the NLU did not understand (``nlu_fallback``) is often gibberish that
    the detector still labels, so its detected language comes last: it never
    replaces a known language and only fills an unknown one when the metadata
    does not.
    """
    current = normalise_language(current)
    chosen = bool(chosen)

    requested = requested_language(intent, entities)
    if requested is not None:
        return requested, True

    detected = None if chosen else detect_language(text or "", current)
    understood = intent != FALLBACK_INTENT
    if detected is not None and understood:
        return detected, False

    if current is None:
        from_metadata = normalise_language((metadata or {}).get(METADATA_LANGUAGE_KEY))
        if from_metadata is not None:
            return from_metadata, chosen
        if detected is not None:
            return detected, False

    return current, chosen
