"""Short calendar links for channels that show links as plain text (WhatsApp, Instagram).

The calendar file of a booking lives at ``/bookings/<code>/calendar.ics?t=<token>``, with
a long random per-booking token: fine behind a button in the web widget, noisy in a
WhatsApp bubble. The short form is ``/c/<code>-<key>``, where ``key`` is derived from
that same secret token (a keyed hash, 12 base32 characters, 60 bits): unguessable without
the token, so it needs no new secret and no table, and it dies with the booking.

The gateway route (``GET /c/{code}-{key}``) loads the booking by code, compares
:func:`short_key` of its ``calendar_token`` with ``key`` (:func:`matches`, constant
time) and redirects to the long path; anything else is a 404. Pure functions on
purpose: they belong to ``vetrina.bookings.calendar`` once the lead moves them there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

KEY_LENGTH = 12
_CONTEXT = b"vetrina short calendar link v1"


def short_key(calendar_token: str) -> str:
    """The short, unguessable key of a booking's calendar link."""
    digest = hmac.new(calendar_token.encode(), _CONTEXT, hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:KEY_LENGTH]


def short_path(code: str, calendar_token: str) -> str:
    """``/c/<code>-<key>``: what a chat on WhatsApp or Instagram shows."""
    return f"/c/{code}-{short_key(calendar_token)}"


def matches(calendar_token: str, key: str) -> bool:
    """Whether ``key`` (from the URL) is the short key of ``calendar_token``."""
    return hmac.compare_digest(short_key(calendar_token), key.lower())
