"""Which of the supported languages a text is written in.

Lingua ships its language models inside the wheel, so detection works offline and
needs no download at run time. Detection is restricted to the languages the
assistant speaks, and returns ``None`` when the text is too short or too mixed to
tell: the caller then keeps the language it already knew.
"""

from __future__ import annotations

import re
from functools import lru_cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

SUPPORTED = ("it", "en")
DEFAULT_LANGUAGE = "it"

_CODES = {Language.ITALIAN: "it", Language.ENGLISH: "en"}

# Words a detector cannot judge alone but a shopper uses all the time.
_SHORT_WORDS = {
    "ciao": "it", "salve": "it", "buongiorno": "it", "buonasera": "it", "grazie": "it",
    "arrivederci": "it", "si": "it", "sì": "it", "aiuto": "it",
    "hi": "en", "hello": "en", "hey": "en", "thanks": "en", "thank you": "en",
    "bye": "en", "yes": "en", "help": "en", "good morning": "en",
}


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    return (
        LanguageDetectorBuilder.from_languages(*_CODES)
        .build()
    )


# A first guess may be tentative; switching away from a language the customer has
# been using needs a clear, longer text ("trench" alone must not turn Italian to English).
FIRST_GUESS_CONFIDENCE = 0.6
SWITCH_CONFIDENCE = 0.9
SWITCH_MIN_WORDS = 2


# Tokens that carry no language: anything with a digit (sizes, prices, phone numbers,
# most codes) and upper-case runs of 5 or more (booking codes such as "WXRJAB", SKUs).
# A random booking code must not decide the language of "cancel booking WXRJA9".
_NO_LANGUAGE = re.compile(r"^(?=\S*\d)\S+$|^[A-Z][A-Z-]{4,}$")


def _words_with_language(text: str) -> str:
    return " ".join(
        word for word in text.split() if not _NO_LANGUAGE.match(word.strip("!?.,;:()[]\"'"))
    )


def detect_language(text: str, current: str | None = None) -> str | None:
    """Return "it" or "en" for ``text``, or ``None`` when it cannot be told.

    ``current`` is the language the customer has been using so far: it is kept unless
    the text is clearly in the other language.
    """
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        # A channel's placeholder ("[image]", "[story mention]"), not the customer's words.
        return None
    cleaned = " ".join(_words_with_language(text).lower().split()).strip(" !?.,;:")
    if not cleaned or cleaned.startswith("/"):
        return None
    if cleaned in _SHORT_WORDS:
        return _SHORT_WORDS[cleaned]
    if sum(ch.isalpha() for ch in cleaned) < 3:
        return None
    values = _detector().compute_language_confidence_values(cleaned)
    if not values:
        return None
    best = values[0]
    language = _CODES.get(best.language)
    if current is None or current == language:
        return language if best.value >= FIRST_GUESS_CONFIDENCE else None
    if best.value >= SWITCH_CONFIDENCE and len(cleaned.split()) >= SWITCH_MIN_WORDS:
        return language
    return None


def normalise_language(value: object) -> str | None:
    """Map a user- or client-supplied language tag ("it-IT", "EN") to a supported code."""
    if not isinstance(value, str):
        return None
    code = value.strip().lower().replace("_", "-").split("-")[0]
    return code if code in SUPPORTED else None
