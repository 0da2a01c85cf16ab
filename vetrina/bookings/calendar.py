"""Booking codes and the calendar file (RFC 5545), written by hand: one VEVENT, no library.

Lines end in CRLF and are folded at 75 octets; TEXT values escape backslash, semicolon,
comma and newline; times are UTC (``…Z``), so no VTIMEZONE is needed and every calendar
shows the store's wall-clock time correctly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

# No 0/O, 1/I/L: a code read aloud or copied from a screen is never ambiguous.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6


def new_code() -> str:
    """A random code with at least one digit and one letter.

    A digit makes a code typed in lower case ("annulla k7mqrt") tell itself apart from
    an ordinary six-letter word ("sempre"); the chat recognises codes that way.
    """
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if any(ch.isdigit() for ch in code) and any(ch.isalpha() for ch in code):
            return code


def normalise_code(value: str) -> str:
    """What a shopper types or says ("abc 23x", "ABC-23X") → "ABC23X"."""
    return "".join(ch for ch in str(value).upper() if ch.isalnum())


def new_calendar_token() -> str:
    return secrets.token_urlsafe(24)  # 32 characters, 192 bits


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    starts_at: datetime
    ends_at: datetime
    summary: str
    location: str
    description: str
    stamp: datetime
    cancelled: bool = False


def escape_text(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold_line(line: str) -> str:
    """Split a content line into chunks of at most 75 octets, never inside a character."""
    encoded = line.encode("utf-8")
    if len(encoded) <= 75:
        return line
    parts: list[str] = []
    current = ""
    limit = 75
    for ch in line:
        if len((current + ch).encode("utf-8")) > limit:
            parts.append(current)
            current = ch
            limit = 74  # continuation lines start with a space
        else:
            current += ch
    parts.append(current)
    return "\r\n ".join(parts)


def _utc(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def render_ics(event: CalendarEvent) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Vetrina//Try-on bookings//IT",
        "CALSCALE:GREGORIAN",
        f"METHOD:{'CANCEL' if event.cancelled else 'PUBLISH'}",
        "BEGIN:VEVENT",
        f"UID:{event.uid}",
        f"DTSTAMP:{_utc(event.stamp)}",
        f"DTSTART:{_utc(event.starts_at)}",
        f"DTEND:{_utc(event.ends_at)}",
        f"SUMMARY:{escape_text(event.summary)}",
        f"LOCATION:{escape_text(event.location)}",
        f"DESCRIPTION:{escape_text(event.description)}",
        f"STATUS:{'CANCELLED' if event.cancelled else 'CONFIRMED'}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(fold_line(line) + "\r\n" for line in lines)


# --- Short calendar links -----------------------------------------------------------------
# WhatsApp and Instagram show links as plain text, so the long per-booking token would sit
# in the bubble. The short form ``/c/<code>-<key>`` derives ``key`` from that same secret
# token (a keyed hash, 12 base32 characters, 60 bits): unguessable without the token, no
# new secret, no table, and it dies with the booking. ``GET /c/{code}-{key}`` redirects.

SHORT_KEY_LENGTH = 12
_SHORT_CONTEXT = b"vetrina short calendar link v1"


def short_key(calendar_token: str) -> str:
    """The short, unguessable key of a booking's calendar link."""
    digest = hmac.new(calendar_token.encode(), _SHORT_CONTEXT, hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:SHORT_KEY_LENGTH]


def short_path(code: str, calendar_token: str) -> str:
    """``/c/<code>-<key>``: what a chat on WhatsApp or Instagram shows."""
    return f"/c/{code}-{short_key(calendar_token)}"


def matches(calendar_token: str, key: str) -> bool:
    """Whether ``key`` (from the URL) is the short key of ``calendar_token``."""
    return hmac.compare_digest(short_key(calendar_token), key.lower())
