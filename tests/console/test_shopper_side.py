"""The shopper's side of a handoff (issue 13, item 9 and the last bullet of item 6), with the
real gateway, a fake assistant and a web customer speaking the widget's protocol:

- the consultant's typing reaches the customer ("Giulia"), only from the owner, throttled;
- replies and the "joined" notice are signed with the first name;
- the widget's header says whether consultants are on duty, or when they are back;
- a booking made in the console is confirmed to the customer, through the outbox.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from sqlalchemy import select

from tests.bookings.conftest import Shop, shop  # noqa: F401 (fixture)
from tests.chat_client import WebCustomer
from tests.console.test_console_api import PASSWORD, Desk, desk  # noqa: F401 (fixture)
from vetrina.conversations import handoff
from vetrina.conversations.consultants import Presence, create_consultant, set_presence, touch
from vetrina.conversations.handoff import CUSTOMER, HandoffOptions, Reason
from vetrina.conversations.models import Message
from vetrina.conversations.routing import ConsultantHours
from vetrina.gateway.keys import CONSOLE
from vetrina.messages import MESSAGES

ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture
async def giulia(desk: Desk) -> int:  # noqa: F811
    """A consultant with a surname, for the first-name signature."""
    created = await create_consultant(
        desk.shop.db, "giulia@example.com", "Giulia Rossi", PASSWORD, stores=["MI"]
    )
    return int(created.id)


@pytest_asyncio.fixture
async def customer(desk: Desk) -> AsyncIterator[WebCustomer]:  # noqa: F811
    web = await WebCustomer(str(desk.server.make_url("/")).rstrip("/")).connect()
    yield web
    await web.close()


async def _waiting(desk: Desk, web: WebCustomer) -> tuple[int, str]:  # noqa: F811
    """The web customer writes and asks for a person: (conversation id, customer id)."""
    await web.send("vorrei parlare con qualcuno")
    ack = await web.next("message_ack", timeout=10)
    await desk.processed(ack["id"])
    await web.next("bot_uttered", timeout=10)  # the fake assistant's answer
    async with desk.shop.db.sessions() as session:
        customer_id = (await session.get_one(Message, ack["id"])).customer_id
    outcome = await handoff.request_consultant(
        desk.shop.db, customer_id, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER,
        options=HandoffOptions(ConsultantHours.parse("")), store_hint="MI",
    )
    return outcome.conversation_id, customer_id


async def _nothing(web: WebCustomer, event: str, seconds: float = 0.5) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await web.next(event, timeout=seconds)


async def _typing_answer(ws: Any) -> dict[str, Any]:
    while True:
        event = await ws.receive_json(timeout=5)
        if event.get("topic") == "typing":
            return dict(event)


async def test_only_the_owner_shows_as_typing_throttled_and_signed_with_the_first_name(
    desk: Desk, giulia: int, customer: WebCustomer  # noqa: F811
) -> None:
    conversation_id, _ = await _waiting(desk, customer)
    console_desk = desk.server.app[CONSOLE].desk
    now = [1000.0]
    console_desk.clock = lambda: now[0]
    g, g_csrf = await desk.login("giulia@example.com")
    mara, _ = await desk.login("mi@example.com")
    g_ws, mara_ws = await g.ws_connect("/console/ws"), await mara.ws_connect("/console/ws")
    try:
        url = f"/console/api/conversations/{conversation_id}"
        # Nobody owns it yet: typing shows nothing.
        await g_ws.send_json({"typing": conversation_id})
        assert (await _typing_answer(g_ws))["error"] == "not_yours"

        claimed = await g.post(url + "/claim", headers={"X-CSRF-Token": g_csrf})
        assert claimed.status == 200, await claimed.text()
        joined = await customer.next("bot_uttered", timeout=10)
        assert joined["author"] == "system" and joined["consultant_name"] == "Giulia"
        assert "Giulia" in joined["text"] and "Rossi" not in joined["text"]

        await g_ws.send_json({"typing": conversation_id})
        assert await customer.next("vetrina_typing", timeout=5) == {"name": "Giulia"}
        now[0] += 1.0  # within TYPING_EVERY: dropped
        await g_ws.send_json({"typing": conversation_id})
        await _nothing(customer, "vetrina_typing")
        now[0] += 2.0
        await g_ws.send_json({"typing": str(conversation_id)})
        assert await customer.next("vetrina_typing", timeout=5) == {"name": "Giulia"}

        # A colleague who sees the conversation but does not hold it: refused, nothing shown.
        now[0] += 10.0
        await mara_ws.send_json({"typing": conversation_id})
        assert (await _typing_answer(mara_ws))["error"] == "not_yours"
        await mara_ws.send_json({"typing": "1; drop table"})
        assert (await _typing_answer(mara_ws))["error"] == "invalid"
        await mara_ws.send_json({"typing": 999999})
        assert (await _typing_answer(mara_ws))["error"] == "not_found"
        await _nothing(customer, "vetrina_typing")

        sent = await g.post(url + "/messages", json={"text": "Eccomi!"},
                            headers={"X-CSRF-Token": g_csrf})
        assert sent.status == 200, await sent.text()
        reply = await customer.next("bot_uttered", timeout=10)
        assert reply["author"] == "consultant" and reply["text"] == "Eccomi!"
        assert reply["consultant_name"] == "Giulia"
        history = await customer.history()
        signed = [m for m in history if m.get("author") == "consultant"]
        assert signed and signed[-1]["consultant_name"] == "Giulia"
    finally:
        await g_ws.close()
        await mara_ws.close()
        await g.close()
        await mara.close()


async def test_the_header_says_whether_consultants_are_on_duty(
    desk: Desk, customer: WebCustomer  # noqa: F811
) -> None:
    # The desk fixture has hours "" (always open) and nobody online.
    status = await customer.next("vetrina_status", timeout=5)
    assert status["consultants"] == {"on_duty": False, "back_at": None}
    assert status["header"] == MESSAGES["header_off_duty"]["it"]

    async with desk.shop.db.sessions() as session:
        from vetrina.conversations.consultants import Consultant

        mara_id = await session.scalar(
            select(Consultant.id).where(Consultant.email == "mi@example.com")
        )
    assert mara_id is not None
    await set_presence(desk.shop.db, mara_id, Presence.ONLINE)
    await touch(desk.shop.db, mara_id)
    english = await WebCustomer(str(desk.server.make_url("/")).rstrip("/")).connect()
    try:
        await english.sio.emit(
            "session_request", {"session_id": english.session_id, "vetrina": 1, "language": "en"}
        )
        first = await english.next("vetrina_status", timeout=5)  # from connect() (no language)
        assert first["consultants"]["on_duty"] is True
        status = await english.next("vetrina_status", timeout=5)
        assert status["header"] == "Virtual assistant · consultants available"
    finally:
        await english.close()


async def test_off_hours_the_header_says_when_consultants_are_back(shop: Shop) -> None:  # noqa: F811
    from channels.web.socket import status_payload

    hours = ConsultantHours.parse("mon-fri 10:00-19:00", "Europe/Rome")
    monday_early = datetime(2026, 11, 30, 7, 0, tzinfo=ZoneInfo("Europe/Rome"))
    duty = await handoff.on_duty(shop.db, hours, now=monday_early)
    assert not duty.on_duty and duty.back_at is not None and f"{duty.back_at:%H:%M}" == "10:00"
    shown = status_payload(duty, "it", now=monday_early)
    assert shown["header"] == "Assistente virtuale · i consulenti tornano alle 10:00"
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=ZoneInfo("Europe/Rome"))
    later = await handoff.on_duty(shop.db, hours, now=saturday)
    assert status_payload(later, "en", now=saturday)["header"] == (
        "Virtual assistant · consultants are back on 07/12 at 10:00"
    )


async def test_a_booking_made_in_the_console_is_confirmed_to_the_customer(
    desk: Desk, customer: WebCustomer  # noqa: F811
) -> None:
    conversation_id, customer_id = await _waiting(desk, customer)
    mara, csrf = await desk.login("mi@example.com")
    try:
        url = f"/console/api/conversations/{conversation_id}"
        slots = []
        for ahead in range(2, 8):
            day = (date.today() + timedelta(days=ahead)).isoformat()
            slots = (await (await mara.get(f"{url}/slots?store=MI&date={day}")).json())["slots"]
            if slots:
                break
        assert slots
        booked = await mara.post(
            url + "/bookings", json={"store_code": "MI", "starts_at": slots[0]["starts_at"],
                                     "skus": "BOOT-NER-41"},
            headers={"X-CSRF-Token": csrf},
        )
        assert booked.status == 200, await booked.text()
        answer = await booked.json()
        code = answer["booking"]["code"]
        assert answer["confirmed_to_customer"] is True
        told = await customer.next("bot_uttered", timeout=10)
        assert told["author"] == "system"
        assert f"Codice {code}" in told["text"] and slots[0]["local_time"] in told["text"]
        [link] = told["quick_replies"]
        assert link["type"] == "web_url" and f"/bookings/{code}/calendar.ics?t=" in link["url"]
        async with desk.shop.db.sessions() as session:
            row = await session.scalar(
                select(Message).where(Message.customer_id == customer_id,
                                      Message.text.contains(code))
            )
        assert row is not None and row.payload["booking_code"] == code
        assert row.channel == "web" and row.status in ("pending", "sent")
    finally:
        await mara.close()


def test_the_console_confirmation_keeps_the_assistants_facts() -> None:
    """vetrina.messages' copy of utter_try_on_booked names the same facts, in each language."""
    domain = (ROOT / "bot/domain/bookings.yml").read_text(encoding="utf-8")
    block = domain.split("  utter_try_on_booked:\n", 1)[1].split("\n\n", 1)[0]
    texts = re.findall(r'text: "(.*)"', block)
    assert len(texts) == 2  # Italian and English
    fields = {frozenset(re.findall(r"{(\w+)}", text)) for text in texts}
    ours = {frozenset(re.findall(r"{(\w+)}", t)) for t in MESSAGES["booking_confirmed"].values()}
    assert fields == ours


def test_on_instagram_the_confirmation_carries_a_short_calendar_link() -> None:
    from vetrina.bookings.confirmation import confirmation
    from vetrina.bookings.views import BookedItem, BookingView

    start = datetime(2026, 12, 5, 9, 0, tzinfo=ZoneInfo("UTC"))
    view = BookingView(
        "K7M2QX", "booked", "c1", "MI", "Vetrina Milano", "Via Dante 1", "Europe/Rome",
        start, start + timedelta(minutes=30), "instagram",
        (BookedItem("BOOT-NER-41", "Stivale Brera", "41", "nero", 1),), "t" * 32,
    )
    told = confirmation(view, "en", "instagram", "https://shop.example/")
    assert told.calendar_url is None
    assert "Booked! Code K7M2QX." in told.text and "Stivale Brera (black, 41)" in told.text
    assert "Vetrina Milano, Via Dante 1" in told.text and "05/12 at 10:00" in told.text
    assert "https://shop.example/c/K7M2QX-" in told.text
