"""The confirmation a shopper gets for a try-on booked on their behalf (by a consultant in
the console): the same facts as the assistant's own confirmation (code, items, store and
address, time, calendar link), so a booking reads the same whoever made it.

The assistant's text is a Rasa response (``utter_try_on_booked``) that the gateway cannot
read; the words here are its copy in :mod:`vetrina.messages`, and a test keeps the two
with the same placeholders.
"""

from __future__ import annotations

from dataclasses import dataclass

from vetrina.bookings.calendar import short_path
from vetrina.bookings.views import BookingView
from vetrina.catalog.vocabulary import colour_name
from vetrina.messages import message

WEB = "web"


@dataclass(frozen=True)
class Confirmation:
    text: str
    calendar_url: str | None  # the web widget shows it as an "Add to calendar" button
    calendar_label: str


def items_text(view: BookingView, language: str | None) -> str:
    """"Stivale Brera (nero, 41)", one per booked item (the stored, Italian name)."""
    parts = []
    for i in view.items:
        details = ", ".join(
            d for d in (colour_name(i.colour, language or "it") if i.colour else None, i.size) if d
        )
        name = f"{i.product} ({details})" if details else i.product
        parts.append(name + (f" ×{i.quantity}" if i.quantity > 1 else ""))
    return ", ".join(parts)


def confirmation(
    view: BookingView, language: str | None, channel: str | None, public_url: str
) -> Confirmation:
    """The text for ``channel``: on the web the calendar is a button (the long private link
    stays out of the bubble); on WhatsApp and Instagram a short link in the text."""
    base = public_url.rstrip("/")
    local = view.local_start
    when = message("booking_when", language, date=f"{local:%d/%m}", time=f"{local:%H:%M}")
    label = message("booking_add_to_calendar", language)
    if channel in (None, WEB):
        calendar, url = "", base + view.calendar_path
    else:
        link = base + short_path(view.code, view.calendar_token)
        calendar, url = message("booking_calendar_line", language, url=link), None
    text = message(
        "booking_confirmed", language, code=view.code, items=items_text(view, language),
        store=view.store_name, address=view.store_address, when=when, calendar=calendar,
    )
    return Confirmation(text, url, label)
