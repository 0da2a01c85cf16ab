"""What the console shows a person instead of internals (issue 13): masked phone numbers,
the login page in the consultant's language, and the store day sheet."""

from __future__ import annotations

from datetime import datetime, timezone

from aiohttp.test_utils import make_mocked_request

from vetrina.bookings.views import BookedItem, BookingView
from vetrina.gateway.bookings_web import sheet_page
from vetrina.gateway.console.conversations import masked_phone
from vetrina.gateway.console.pages import LANG_COOKIE, language


def test_a_phone_number_is_masked_but_recognisable() -> None:
    assert masked_phone("+393471234567") == "+39 ••• ••• 4567"
    assert masked_phone("3471234567") == "••• ••• 4567"
    assert masked_phone("+39") == "•••"


def test_the_login_page_language_is_the_switch_then_the_browser() -> None:
    def request(accept: str = "", cookie: str = "") -> object:
        headers = {"Accept-Language": accept} if accept else {}
        if cookie:
            headers["Cookie"] = f"{LANG_COOKIE}={cookie}"
        return make_mocked_request("GET", "/console/login", headers=headers)

    assert language(request()) == "it"  # type: ignore[arg-type]
    assert language(request("en-GB,en;q=0.9,it;q=0.5")) == "en"  # type: ignore[arg-type]
    assert language(request("de-DE,it;q=0.8")) == "it"  # type: ignore[arg-type]
    assert language(request("fr-FR,de;q=0.8")) == "it"  # type: ignore[arg-type]
    assert language(request("it-IT", cookie="en")) == "en"  # type: ignore[arg-type]
    assert language(request("en-GB", cookie="xx")) == "en"  # type: ignore[arg-type]


def _view(code: str, status: str, customer_id: str, name: str | None) -> BookingView:
    return BookingView(
        code=code, status=status, customer_id=customer_id, store_code="MI",
        store_name="Vetrina Milano", store_address="", store_timezone="Europe/Rome",
        starts_at=datetime(2026, 3, 21, 10, 0, tzinfo=timezone.utc),
        ends_at=datetime(2026, 3, 21, 10, 30, tzinfo=timezone.utc), channel="whatsapp",
        items=(BookedItem("BOOT-NER-41", "Stivale Brera", "41", "nero", 1),),
        calendar_token="t", customer_name=name,
    )


def test_the_day_sheet_names_the_customer_and_links_the_days_around() -> None:
    page = sheet_page(
        "MI", "2026-03-21",
        [_view("ABC123", "confirmed", "c1", "Giulia <b>Rossi</b>"),
         _view("DEF456", "cancelled", "c2", None)],
        lang="en", contacts={"c2": {"phone": "+39 ••• ••• 4567", "instagram": None}},
    )
    assert "<style" not in page and "style=" not in page  # the CSP would block it
    assert "/console/static/console.css" in page
    assert "Giulia &lt;b&gt;Rossi&lt;/b&gt;" in page and "<b>" not in page
    assert "+39 ••• ••• 4567" in page and "WhatsApp" in page
    assert "Saturday 21/03/2026" in page and "Cancelled" in page
    assert "?date=2026-03-20" in page and "?date=2026-03-22" in page
    assert page.count("class='actions-col'") == 2  # room for check-in, complete, no-show
    empty = sheet_page("MI", "2026-03-22", [])
    assert "Nessuna prenotazione" in empty and "lang='it'" in empty
