"""Whole stack, the store loop of issue 12: from a WhatsApp question to a till sale credited
to the try-on booking, on the session's real Rasa, action server and gateway.

1. On WhatsApp (signed Twilio webhook → gateway → Rasa → action server → fake Twilio) a
   shopper asks whether the black trench in M is in stock in a store's city.
2. On the website the same shopper links WhatsApp by the reverse link code (the web chat
   shows a code, the phone sends it: the WhatsApp customer is merged into the web one,
   proven by possession, no consultant involved), then books a try-on there.
3. A consultant of that store logs into the console in headless Chromium, opens the
   store's day sheet for the booking's day and clicks "Registra arrivo": the row then
   shows the arrival time, and the booking's outcome history names the consultant.
4. The till sends the sale with the booking code to ``POST /api/orders``.
5. The sale is matched by ``booking_code``, its last-touch credit is the booking (the
   WhatsApp stock question and the chats are among its "influenced" touches), and both
   ``GET /api/insights/kpis`` and the console's Insights page show it as a store purchase
   after an online reservation.

The session's database is shared with the other whole-stack tests, so the KPI figures are
checked as differences from a baseline read (after a refresh) before the walk. The sale is
dated now: a sale naming a booking counts from the booking's creation (rule
``booking_code``), even before the try-on's start, so no clock needs moving.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from channels.web.session_ids import SessionIds
from tests.chat_client import WebCustomer, texts
from tests.e2e.test_widget_browser import browser  # noqa: F401 (session fixture)
from tests.integration.test_booking_chat import (
    CODE,
    bookable_trench,
    booking_service,
    day_words,
    free_day_at_11,
)
from tests.stack_fixtures import STACK_INSIGHTS_TOKEN, STACK_ORDERS_TOKEN, Gateway
from vetrina.bookings.models import Booking
from vetrina.bookings.outcomes import BookingCheckIn, BookingOutcomes
from vetrina.catalog.models import Product, Store, Variant
from vetrina.conversations.consultants import create_consultant
from vetrina.customers.identities import find_customer_id
from vetrina.customers.interactions import STOCK_CHECK, Interaction
from vetrina.customers.link_proofs import find_codes
from vetrina.insights.models import AttributionCredit, Order
from vetrina.insights.service import Insights, InsightsOptions
from vetrina.messages import message as vetrina_text

pytestmark = pytest.mark.e2e

PASSWORD = "store loop console password"
DEADLINE = 90.0  # seconds for anything the gateway does in the background


async def eventually(
    probe: Any, what: str, timeout: float = DEADLINE, seen: Any = None
) -> Any:
    """Poll ``probe()`` until it returns something truthy; fail after ``timeout``, showing
    ``seen()`` (what was last observed) when given."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    last: Any = None
    while loop.time() < end:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}: {seen() if seen else last!r}")


def gateway_insights(gateway: Gateway) -> Insights:
    """The insights service on the gateway's database and windows: the same lock as the
    gateway's refresh worker (one Database, one lock), the same windows fingerprint."""
    return Insights(gateway.services.db, InsightsOptions.from_settings(gateway.services.settings))


async def refreshed(gateway: Gateway) -> None:
    """One complete refresh of attribution and rollups (waiting out the worker's round)."""
    insights = gateway_insights(gateway)

    async def once() -> bool:
        report = await insights.refresh()
        return "skipped" not in report.details

    await eventually(once, "a refresh not skipped by the worker's round")


async def kpis(gateway: Gateway, start: date, end: date, store: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        response = await http.get(
            "/api/insights/kpis",
            params={"from": start.isoformat(), "to": end.isoformat(), "store": store},
            headers={"Authorization": f"Bearer {STACK_INSIGHTS_TOKEN}"},
        )
    assert response.status_code == 200, response.text
    totals: dict[str, Any] = response.json()["totals"]
    return totals


async def whatsapp_say(gateway: Gateway, number: str, text: str) -> str:
    """Send ``text`` from ``number`` and return the first reply to it."""
    twilio = gateway.twilio
    assert twilio is not None
    seen = len(twilio.sent_to(number))
    status, _ = await twilio.deliver(f"{gateway.url}/webhooks/whatsapp", twilio.incoming(number, text))
    assert status == 200
    replies = await twilio.wait_for(number, count=seen + 1, timeout=DEADLINE)
    return replies[seen].body or ""


async def customer_of(gateway: Gateway, channel: str, external_id: str) -> str:
    async with gateway.services.db.sessions() as session:
        found = await find_customer_id(session, channel, external_id)
    assert found is not None, (channel, external_id)
    return found


async def login(page: Any, url: str, email: str) -> None:
    await page.goto(url + "/console/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await page.wait_for_url(url + "/console", timeout=15_000)


async def test_whatsapp_question_web_booking_console_check_in_till_sale_and_insights(
    browser: Any, gateway: Gateway  # noqa: F811
) -> None:
    db = gateway.services.db
    run = uuid.uuid4().hex[:8]
    number = f"+39334{int(run, 16) % 10**7:07d}"
    spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
    trench = await bookable_trench(gateway)
    day = await free_day_at_11(gateway, trench.store)
    async with db.sessions() as session:
        product_code, price_cents = (
            await session.execute(
                select(Product.code, Variant.price_cents)
                .join(Variant, Variant.product_id == Product.id)
                .where(Variant.sku == trench.sku)
            )
        ).one()
        zone_name = await session.scalar(select(Store.timezone).where(Store.code == trench.store))
    consultant = f"store-{run}@example.com"
    await create_consultant(db, consultant, "Sara", PASSWORD, stores=[trench.store])

    # The period: from today (the booking's creation and the sale, UTC days) to the day
    # of the try-on (at least tomorrow). The baseline is read after a full refresh.
    start = datetime.now(timezone.utc).date()
    end = max(day, start + timedelta(days=1))
    await refreshed(gateway)
    before = await kpis(gateway, start, end, trench.store)

    # 1. WhatsApp: is the black trench in M in stock in that city?
    answer = await whatsapp_say(gateway, number, f"avete il trench nero in M a {trench.city}?")
    assert trench.name in answer, answer
    whatsapp_customer = await customer_of(gateway, "whatsapp", number)
    async with db.sessions() as session:
        asked = (
            await session.scalars(
                select(Interaction.data).where(
                    Interaction.customer_id == whatsapp_customer, Interaction.kind == STOCK_CHECK
                )
            )
        ).all()
    assert [(d or {}).get("product_code") for d in asked] == [product_code], asked

    # 2. The web chat: link WhatsApp by the code the chat shows, then book a try-on.
    web = await WebCustomer(gateway.url).connect()
    try:
        shown = texts(await web.say(f"ti ho scritto anche su WhatsApp, il mio numero è {spaced}"))
        assert "mandaci questo codice" in shown, shown
        [link_code] = find_codes(shown)
        linked = await whatsapp_say(
            gateway, number, vetrina_text("link_proof_prefill", "it", code=link_code)
        )
        assert linked == vetrina_text("link_proof_done", "it"), linked
        told = await web.next("bot_uttered", timeout=30)  # the web chat hears it too
        assert "WhatsApp" in (told.get("text") or ""), told
        shopper = await customer_of(gateway, "web", SessionIds.public(web.session_id or ""))
        assert await customer_of(gateway, "whatsapp", number) == shopper

        booked = texts(
            await web.say(
                f"vorrei prenotare una prova del trench nero in M a {trench.city} "
                f"{day_words(day, 'it')} alle 11",
                timeout=DEADLINE,
            )
        )
    finally:
        await web.close()
    found = CODE.search(booked)
    assert found and "Prenotato" in booked and trench.name in booked, booked
    code = found.group(1)
    async with db.sessions() as session:
        booking = await session.scalar(select(Booking).where(Booking.code == code))
    assert booking is not None
    assert (booking.customer_id, booking.status, booking.channel) == (shopper, "confirmed", "web")
    zone = await booking_service(gateway).store_zone(trench.store)
    assert str(zone) == zone_name
    assert booking.starts_at.astimezone(zone).date() == day

    # 3. The console, in a real browser: the store's consultant checks the shopper in.
    context = await browser.new_context(locale="it-IT")
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        await login(page, gateway.url, consultant)
        await page.goto(f"{gateway.url}/console/stores/{trench.store}/bookings?date={day.isoformat()}")
        row = page.locator(f"tr[data-booking='{code}']")
        assert await row.locator("td.status").inner_text() == "Confermata", await row.inner_html()
        arrived = page.locator(
            f"td.actions-col[data-booking='{code}'] button.outcome[data-action='arrived']"
        )
        assert await arrived.inner_text() == "Registra arrivo"
        await arrived.click()
        # The sheet reloads after the POST; the row then tells when the shopper arrived.
        await page.wait_for_selector(
            f"tr[data-booking='{code}'] td.status:has-text('Arrivato alle')", timeout=15_000
        )
        async with db.sessions() as session:
            checkin = await session.get(BookingCheckIn, booking.id)
            status = await session.scalar(select(Booking.status).where(Booking.id == booking.id))
        assert checkin is not None and checkin.checked_in_by == consultant
        assert status == "confirmed"  # checked in: held, never released as a no-show
        local = checkin.checked_in_at.astimezone(zone)  # stored timezone-aware (UTC)
        assert await row.locator("td.status").inner_text() == f"Arrivato alle {local:%H:%M}"
        actions = await page.eval_on_selector_all(
            f"td.actions-col[data-booking='{code}'] button.outcome",
            "bs => bs.map(b => b.dataset.action)",
        )
        assert actions == ["completed", "undo"], actions
        history = await BookingOutcomes(db).history(code)
        assert [(h["action"], h["actor"]) for h in history] == [("arrived", consultant)]

        # 4. The till sale, with the booking code only, through the orders API.
        sold_at = datetime.now(timezone.utc).replace(microsecond=0)
        price = f"{price_cents // 100}.{price_cents % 100:02d}"
        record = {
            "order_id": f"TILL-{run}",
            "type": "order",
            "occurred_at": sold_at.isoformat(),
            "source": "pos",
            "store": trench.store,
            "staff": consultant,
            "booking_code": code,
            "currency": "EUR",
            "lines": [{"sku": trench.sku, "quantity": 1, "unit_price": price}],
            "total": price,
        }
        orders_auth = {"Authorization": f"Bearer {STACK_ORDERS_TOKEN}"}
        async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:
            sent = await http.post("/api/orders", json=[record], headers=orders_auth)
            assert sent.status_code == 200, sent.text
            assert sent.json() == {"applied": 1, "matched": 1, "unchanged": 0}
            again = await http.post("/api/orders", json=[record], headers=orders_auth)
            assert again.json() == {"applied": 0, "matched": 0, "unchanged": 1}, again.text

        # 5. Matched by the booking code, credited to the booking. The endpoint attributes
        # its batch at once unless the worker's round held the lock; then that round (or
        # the next) does it: wait for the credits, never a fixed time.
        async with db.sessions() as session:
            order = await session.scalar(select(Order).where(Order.order_id == f"TILL-{run}"))
        assert order is not None
        assert (order.buyer_id, order.matched_key, order.total_cents) == (
            shopper, "booking_code", price_cents,
        )

        async def credits() -> list[Any]:
            async with db.sessions() as session:
                return list(
                    (
                        await session.execute(
                            select(
                                AttributionCredit.view,
                                AttributionCredit.touch_kind,
                                AttributionCredit.touch_ref,
                                AttributionCredit.channel,
                                AttributionCredit.rule,
                                AttributionCredit.matched_key,
                                AttributionCredit.amount_cents,
                            ).where(AttributionCredit.order_pk == order.id)
                        )
                    ).all()
                )

        rows = await eventually(credits, "the sale's attribution credits")
        last = [r for r in rows if r.view == "last_touch"]
        assert [tuple(r)[1:] for r in last] == [
            ("booking", f"booking:{code}", "web", "booking_code", "booking_code", price_cents)
        ], rows
        influenced = {(r.touch_kind, r.channel) for r in rows if r.view == "influenced"}
        # The WhatsApp question is the same shopper's now: it counts as influence.
        assert {("booking", "web"), ("stock_check", "whatsapp")} <= influenced, influenced

        # The API: a store purchase after an online reservation, once the rollups show it.
        observed: dict[str, Any] = {}

        async def after() -> dict[str, Any] | None:
            totals = observed["now"] = await kpis(gateway, start, end, trench.store)
            done = (
                totals["store_purchases"] == before["store_purchases"] + 1
                and totals["bookings_attended"] == before["bookings_attended"] + 1
            )
            return totals if done else None

        now = await eventually(
            after, "the KPIs to show the till sale and the check-in",
            seen=lambda: {"before": before, **observed},
        )
        grew = {
            name: now[name] - before[name]
            for name in (
                "store_purchases", "store_purchases_after_booking", "store_purchases_after_chat",
                "orders", "matched_orders", "revenue_cents", "last_touch_orders",
                "last_touch_revenue_cents", "influenced_orders", "e_reservations", "bookings",
                "bookings_attended", "bookings_converted",
            )
        }
        assert grew == {
            "store_purchases": 1, "store_purchases_after_booking": 1,
            "store_purchases_after_chat": 1, "orders": 1, "matched_orders": 1,
            "revenue_cents": price_cents, "last_touch_orders": 1,
            "last_touch_revenue_cents": price_cents, "influenced_orders": 1,
            "e_reservations": 1, "bookings": 1, "bookings_attended": 1, "bookings_converted": 1,
        }, (before, now)
        keys_before = before["key_mix"].get("booking_code", 0)
        assert now["key_mix"].get("booking_code", 0) == keys_before + 1, now["key_mix"]
        share = round(now["store_purchases_after_booking"] / now["store_purchases"], 4)
        assert now["share_after_booking"] == share

        # The Insights page, in the same browser session: the consultant's store, the
        # same figures.
        await page.goto(gateway.url + "/console/insights")
        await page.wait_for_selector("#state[data-state='ready']", timeout=15_000)
        options = await page.eval_on_selector_all("#store option", "os => os.map(o => o.value)")
        assert options == [trench.store]
        await page.fill("#from", start.isoformat())
        await page.fill("#to", end.isoformat())
        await page.click("#apply")
        await page.wait_for_selector(
            f"#state[data-state='ready'][data-period='{start.isoformat()}/{end.isoformat()}']",
            timeout=15_000,
        )

        async def card(name: str) -> str:
            return str(await page.get_attribute(f".card[data-kpi='{name}'] dd", "data-value"))

        for name in (
            "store_purchases", "e_reservations", "bookings_attended", "revenue_cents",
        ):
            assert int(await card(name)) == now[name], name
        assert float(await card("share_after_booking")) == now["share_after_booking"]
        keys = {
            (await r.locator("th, td").nth(0).inner_text()).strip():
                (await r.locator("th, td").nth(1).inner_text()).strip()
            for r in await page.locator("#keys tbody tr").all()
        }
        assert keys.get("booking_code") == str(now["key_mix"]["booking_code"]), keys
        assert problems == []
    finally:
        await context.close()
