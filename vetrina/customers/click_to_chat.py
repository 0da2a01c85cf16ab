"""Click-to-chat links that open a chat with the retailer in the shopper's app.

``https://wa.me/<number>?text=<message>`` opens WhatsApp with the message filled in;
``https://ig.me/m/<account>`` opens the Instagram DM (Instagram fills in no text).
"""

from __future__ import annotations

import re
from urllib.parse import quote

_INSTAGRAM_ACCOUNT = re.compile(r"^[A-Za-z0-9._]{1,30}$")


def whatsapp_link(number: str, text: str) -> str | None:
    """``None`` without a number. ``number`` may be ``whatsapp:+39 02…``: digits are kept."""
    digits = re.sub(r"\D", "", number)
    if not digits:
        return None
    return f"https://wa.me/{digits}?text={quote(text, safe='')}"


def instagram_link(account: str) -> str | None:
    """``None`` without a valid account name (``@`` allowed in front)."""
    name = account.strip().removeprefix("@")
    if not _INSTAGRAM_ACCOUNT.match(name):
        return None
    return f"https://ig.me/m/{name}"
