"""Bot replies as Send API requests, within Meta's limits.

- Text: at most 1,000 bytes (UTF-8) per message; longer replies are split at sentence
  boundaries into several messages.
- Quick replies: at most 13 per message, titles of at most 20 characters (Meta would cut
  them; we shorten with "…" ourselves), text only. They ride on the last text part;
  options beyond 13 are listed in the text so none is lost.
- An image goes as its own attachment message before the text.
"""

from __future__ import annotations

from typing import Any

from channels.text import split_text, utf8_bytes
from vetrina.conversations.notices import notice
from vetrina.conversations.ports import OutboundView, signed_text

MAX_TEXT_BYTES = 1000
MAX_QUICK_REPLIES = 13
MAX_TITLE_CHARS = 20
MAX_PAYLOAD_CHARS = 1000


def short_title(title: str) -> str:
    title = " ".join(title.split())
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1].rstrip() + "…"


def quick_replies(buttons: list[dict[str, str]]) -> list[dict[str, str]]:
    return [
        {
            "content_type": "text",
            "title": short_title(b.get("title", "") or b.get("payload", "")),
            "payload": (b.get("payload") or b.get("title") or "")[:MAX_PAYLOAD_CHARS],
        }
        for b in buttons[:MAX_QUICK_REPLIES]
    ]


def messages(view: OutboundView, language: str | None) -> list[dict[str, Any]]:
    """The ``message`` objects of the Send API requests for one stored outbound message."""
    out: list[dict[str, Any]] = []
    image = view.payload.get("image")
    if image:
        out.append({"attachment": {"type": "image", "payload": {"url": str(image)}}})
    buttons = view.buttons
    text = signed_text(view).strip()
    overflow = buttons[MAX_QUICK_REPLIES:]
    if overflow:
        extra = "\n".join(f"• {b.get('title', '')}" for b in overflow)
        text = f"{text}\n\n{extra}".strip()
    if buttons and not text:
        text = notice("choose_option", language)
    parts = split_text(text, MAX_TEXT_BYTES, utf8_bytes) if text else []
    for index, part in enumerate(parts):
        body: dict[str, Any] = {"text": part}
        if buttons and index == len(parts) - 1:
            body["quick_replies"] = quick_replies(buttons)
        out.append(body)
    return out
