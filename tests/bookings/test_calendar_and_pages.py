"""The calendar file (RFC 5545 by hand) and the gateway's booking pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from tests.bookings.conftest import NOW, SATURDAY, Shop
from tests.fakes import FakeAssistant
from vetrina.bookings.calendar import CalendarEvent, escape_text, fold_line, render_ics
from vetrina.bookings.service import BookingView
from vetrina.gateway.app import init_app
from vetrina.settings import Settings

UTC = timezone.utc
CONSOLE_PASSWORD = "console password 1"


def test_ics_uses_crlf_utc_times_escaping_and_folding() -> None:
    text = render_ics(
        CalendarEvent(
            uid="ABC234@vetrina",
            starts_at=datetime(2026, 3, 21, 9, 30, tzinfo=UTC),
            ends_at=datetime(2026, 3, 21, 10, 0, tzinfo=UTC),
            summary="Prova; stivali, nero",
            location="Vetrina Milano, Corso Vittorio Emanuele II, 15, 20122 Milano",
            description="Codice: ABC234\n" + "Stivale Brera nero 41 ×1, " * 6,
            stamp=datetime(2026, 3, 20, 9, 0, tzinfo=UTC),
        )
    )
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert "DTSTART:20260321T093000Z\r\n" in text and "DTEND:20260321T100000Z\r\n" in text
    assert "SUMMARY:Prova\\; stivali\\, nero\r\n" in text
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    unfolded = text.replace("\r\n ", "")
    assert "DESCRIPTION:Codice: ABC234\\nStivale Brera nero 41 ×1\\, " in unfolded
    assert escape_text("a\\b") == "a\\\\b"
    assert fold_line("x" * 75) == "x" * 75
    assert fold_line("é" * 40).split("\r\n ")[0].encode() == "é".encode() * 37


@pytest_asyncio.fixture
async def client(shop: Shop) -> AsyncIterator[TestClient]:
    settings = Settings(database_url=shop.db.url)
    app = init_app(settings, assistant=FakeAssistant())
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


async def _book(shop: Shop) -> BookingView:
    return await shop.bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1)], channel="web", now=NOW
    )


async def test_the_calendar_link_needs_its_token(client: TestClient, shop: Shop) -> None:
    view = await _book(shop)
    response = await client.get(view.calendar_path)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    body = await response.text()
    assert "DTSTART:20260321T093000Z" in body and view.code in body
    assert "Corso Vittorio Emanuele II\\, 15" in body
    for path in (
        f"/bookings/{view.code}/calendar.ics",
        f"/bookings/{view.code}/calendar.ics?t=wrong",
        f"/bookings/ZZZZZZ/calendar.ics?t={view.calendar_token}",
    ):
        assert (await client.get(path)).status == 404, path
    await shop.bookings.cancel(shop.alice, view.code, channel="web", now=NOW)
    assert "STATUS:CANCELLED" in await (await client.get(view.calendar_path)).text()


async def _console_login(client: TestClient, shop: Shop, email: str, **kwargs: object) -> None:
    """Sign in to the consultant console (the store's day sheet lives behind it)."""
    import re

    from vetrina.conversations.consultants import create_consultant

    await create_consultant(shop.db, email, email.split("@")[0], CONSOLE_PASSWORD, **kwargs)
    page = await (await client.get("/console/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = await client.post(
        "/console/login", data={"csrf": csrf, "email": email, "password": CONSOLE_PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 302


async def test_the_store_day_sheet_is_behind_the_console_login(
    client: TestClient, shop: Shop
) -> None:
    from vetrina.conversations.consultants import Role

    view = await _book(shop)
    url = f"/console/stores/MI/bookings?date={SATURDAY}"
    old = await client.get(f"/staff/stores/MI/bookings?date={SATURDAY}", allow_redirects=False)
    assert old.status == 308 and old.headers["Location"] == url
    anonymous = await client.get(url, allow_redirects=False)
    assert anonymous.status == 302 and anonymous.headers["Location"] == "/console/login"
    await _console_login(client, shop, "admin@example.com", role=Role.ADMIN)
    page = await client.get(url)
    assert page.status == 200
    html = await page.text()
    assert view.code in html and "BOOT-NER-41" in html and "10:30" in html
    data = await (await client.get(url, headers={"Accept": "application/json"})).json()
    (entry,) = data["bookings"]
    assert entry["code"] == view.code and entry["items"][0]["quantity"] == 1
    assert entry["starts_at"] == "2026-03-21T10:30:00+01:00"
    assert (await client.get("/console/stores/XX/bookings")).status == 404
    assert (await client.get("/console/stores/MI/bookings?date=2026-02-31")).status == 400


async def test_a_consultant_sees_only_their_stores_day_sheet(shop: Shop) -> None:
    app = init_app(Settings(database_url=shop.db.url), assistant=FakeAssistant())
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        await _console_login(client, shop, "roma@example.com", stores=["RM"])
        assert (await client.get(f"/console/stores/RM/bookings?date={SATURDAY}")).status == 200
        assert (await client.get(f"/console/stores/MI/bookings?date={SATURDAY}")).status == 403
    finally:
        await client.close()


async def test_the_worker_releases_no_shows_and_queues_reminders(shop: Shop) -> None:
    import asyncio
    from datetime import timedelta

    from tests.bookings.conftest import stock_of
    from vetrina.gateway.bookings_web import booking_worker

    late = await _book(shop)  # Saturday 10:30: a no-show by noon
    tomorrow = await shop.bookings.book(
        shop.bob, "MI", "2026-03-23", "11:00", [("BOOT-NER-42", 1)], channel="web", now=NOW
    )
    sunday_noon = datetime(2026, 3, 22, 11, 0, tzinfo=UTC)  # reminder time for Monday passed
    woken: list[int] = []
    task = asyncio.create_task(
        booking_worker(shop.bookings, lambda: woken.append(1), interval=0.01,
                       clock=lambda: sunday_noon)
    )
    try:
        for _ in range(200):
            await asyncio.sleep(0.02)
            if woken:
                break
    finally:
        task.cancel()
    assert woken
    assert (await shop.bookings.get(shop.alice, late.code)).status == "no_show"
    assert await stock_of(shop.db, "MI", "BOOT-NER-41") == (5, 0)
    assert await shop.bookings.due_reminders(sunday_noon + timedelta(minutes=1)) == []
    assert (await shop.bookings.get(shop.bob, tomorrow.code)).status == "confirmed"
