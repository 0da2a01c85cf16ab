"""Bot replies as WhatsApp text: buttons become a numbered list, long text is split.

Twilio's Messages API takes a ``Body`` of at most 1,600 characters; a longer reply goes
out as several messages, cut at sentence boundaries. Quick-reply buttons (which
WhatsApp only allows in approved templates) are shown as "1. …", "2. …", and a reply of
"2" or of the option's text selects that option (:func:`match_choice`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from channels.text import split_text
from vetrina.conversations.notices import notice
from vetrina.conversations.ports import OutboundView, signed_text

MAX_BODY_CHARS = 1600


@dataclass(frozen=True)
class Part:
    """One message to create through Twilio's Messages API."""

    body: str = ""
    media_urls: tuple[str, ...] = ()
    content_sid: str | None = None
    content_variables: str | None = None  # JSON object, as Twilio takes it


def numbered_options(text: str, buttons: list[dict[str, str]], language: str | None) -> str:
    if not buttons:
        return text
    lines = [f"{index}. {button['title']}" for index, button in enumerate(buttons, start=1)]
    head = text.strip() or notice("choose_option", language)
    return f"{head}\n\n" + "\n".join(lines) + "\n\n" + notice("choose_by_number", language)


def render(message: OutboundView, language: str | None) -> list[Part]:
    """The parts of a free-form (in-window) message; an image rides on the first one."""
    text = numbered_options(signed_text(message), message.buttons, language)
    bodies = split_text(text, MAX_BODY_CHARS) if text.strip() else []
    image = message.payload.get("image")
    media = (str(image),) if image else ()
    if not bodies:
        return [Part(media_urls=media)] if media else []
    return [
        Part(body=body, media_urls=media if index == 0 else ())
        for index, body in enumerate(bodies)
    ]


_KEYCAP = "\ufe0f\u20e3"
_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$", re.UNICODE)
_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("\ufe0f", "").replace("\u20e3", "")
    text = _SPACES.sub(" ", text).strip().casefold()
    return _EDGE_PUNCTUATION.sub("", text)


def match_choice(reply: str, buttons: list[dict[str, str]]) -> dict[str, str] | None:
    """The option a reply selects: its number ("2", "2.", "2️⃣") or its title, any case."""
    if not buttons or not reply:
        return None
    wanted = _normalise(reply.replace(_KEYCAP, ""))
    if not wanted:
        return None
    if wanted.isdigit():
        index = int(wanted)
        return buttons[index - 1] if 1 <= index <= len(buttons) else None
    for button in buttons:
        if _normalise(button.get("title", "")) == wanted:
            return button
    return None
