"""Cleaning what a customer typed before it is stored."""

from __future__ import annotations

import unicodedata


class InvalidMessage(ValueError):
    """A message that cannot be stored; ``code`` is stable for clients, ``str()`` is for people."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


_KEEP = {"\n", "\t"}


def _clean_char(ch: str) -> str:
    category = unicodedata.category(ch)
    if category == "Cs":
        return "\ufffd"
    if category == "Cc" and ch not in _KEEP:
        return ""
    return ch


def clean_text(raw: object, max_chars: int) -> str:
    """Return the text to store, or raise :class:`InvalidMessage`.

    Control characters are dropped, lone surrogates (invalid UTF-8 that slipped through
    JSON) become U+FFFD, the text is NFC-normalised and trimmed. Empty and over-long
    texts are refused rather than cut, so the customer knows to send it again.
    """
    if not isinstance(raw, str):
        raise InvalidMessage("invalid_message", "The message must be text.")
    text = "".join(_clean_char(ch) for ch in raw)
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        raise InvalidMessage("empty_message", "The message is empty.")
    if len(text) > max_chars:
        raise InvalidMessage(
            "message_too_long",
            f"The message is {len(text)} characters long; the limit is {max_chars}.",
        )
    return text
