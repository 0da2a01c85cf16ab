"""Whole stack, both languages: one customer across Instagram, the website and WhatsApp.

1. On Instagram (signed Meta webhook → gateway → real Rasa + action server → fake Meta
   Graph API) they ask about the black trench in M at a Milan store.
2. Later, logged in on the website (the shop's signed identity token in the widget's
   ``session_request``), the web session joins the shop account's customer; a consultant
   merges the Instagram customer into it through the customer API, which also gives
   Rasa's tracker the profile's slots. "è ancora disponibile?" / "is it still available?"
   is answered about the same product and store.
3. They ask to link WhatsApp (giving their number, which is not used: nothing is sent to
   a number nobody proved): the web chat shows a code. A wrong code sent from WhatsApp
   is an ordinary message the assistant answers; the code sent from their phone (the
   text the wa.me button fills in) links the number, answered on WhatsApp.
4. They write on WhatsApp and get the booking reminder there (the channel they last
   wrote from).
5. One timeline shows the three channels in order. Then erasure: neither database (the
   gateway's, Rasa's tracker store) keeps their phone, name, Instagram id or messages.

Expected facts come from the database and the fakes, never hard-coded answers.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import inspect, select, text, update

from channels.web.session_ids import SessionIds
from tests.chat_client import WebCustomer
from tests.stack_fixtures import (
    STACK_API_TOKEN,
    STACK_IDENTITY_SECRET,
    Gateway,
)
from vetrina.bookings.models import Booking
from vetrina.bookings.service import Bookings
from vetrina.catalog.models import Product, Store, StoreStock, Variant
from vetrina.customers.link_proofs import find_codes, new_code
from vetrina.customers.tokens import issue_identity_token
from vetrina.messages import message as vetrina_text
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {STACK_API_TOKEN}"}

SCRIPT = {
    "it": {
        "ask": "avete il trench nero in M a Milano?",
        "still": "è ancora disponibile?",
        "link": "ti ho scritto anche su WhatsApp, il mio numero è {spaced}",
        "whatsapp": "ciao, sono io dal telefono",
        "shown": "mandaci questo codice",
        "done": "Fatto!",
        "reminder": "Promemoria",
    },
    "en": {
        "ask": "is the black trench in M at the Milan store?",
        "still": "is it still available?",
        "link": "I also wrote to you on WhatsApp, my number is {spaced}",
        "whatsapp": "hi, it's me on my phone",
        "shown": "send us this code",
        "done": "Done!",
        "reminder": "Reminder",
    },
}


class SignedInCustomer(WebCustomer):
    """The widget on a page where the shopper is logged in: the token goes with the
    session request."""

    def __init__(self, base_url: str, identity_token: str) -> None:
        super().__init__(base_url)
        self.identity_token = identity_token

    async def connect(self) -> SignedInCustomer:
        await self.sio.connect(self.base_url, transports=["websocket"], socketio_path="socket.io")
        await self.sio.emit(
            "session_request", {"session_id": None, "identity_token": self.identity_token}
        )
        confirmed = await self.next("session_confirm")
        self.session_id = confirmed if isinstance(confirmed, str) else confirmed["session_id"]
        return self


def texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


async def api(gateway: Gateway, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH, timeout=30) as client:
        return await client.request(method, path, **kwargs)


async def customer_by(gateway: Gateway, channel: str, external_id: str) -> dict[str, Any]:
    response = await api(gateway, "GET", "/api/customers",
                         params={"channel": channel, "external_id": external_id})
    assert response.status_code == 200, response.text
    return response.json()


async def milan_stores(gateway: Gateway) -> dict[str, str]:
    async with gateway.services.db.sessions() as session:
        rows = (await session.execute(select(Store.code, Store.name).where(Store.city == "Milano")))
        return dict(rows.all())


async def trench_names(gateway: Gateway) -> tuple[str, str, str]:
    async with gateway.services.db.sessions() as session:
        row = (await session.execute(
            select(Product.code, Product.name_it, Product.name_en)
            .where(Product.category == "trench")
            .join(Variant, Variant.product_id == Product.id)
            .where(Variant.colour == "nero", Variant.size == "M")
        )).one()
    return row.code, row.name_it, row.name_en


async def book_with_reminder_due(db: Database, customer_id: str, store_code: str) -> str:
    """A booking whose day-before reminder is due now, as if booked days ago."""
    bookings = Bookings(db)
    now = utcnow()
    async with db.sessions() as session:
        zone = ZoneInfo(await session.scalar(select(Store.timezone).where(Store.code == store_code)))
        sku = await session.scalar(
            select(Variant.sku)
            .join(StoreStock, StoreStock.variant_id == Variant.id)
            .join(Store, Store.id == StoreStock.store_id)
            .where(Store.code == store_code, StoreStock.on_hand - StoreStock.reserved >= 5)
            .order_by(Variant.sku).limit(1)
        )
    assert sku, f"the demo has well-stocked items at {store_code}"
    for slot in await bookings.next_free_slots(store_code, limit=60, days=3):
        local = slot.local(zone)
        remind_at = datetime.combine(local.date() - timedelta(days=1),
                                     bookings.options.reminder_time, tzinfo=zone)
        if remind_at <= now and slot.starts_at <= now + timedelta(days=2):
            view = await bookings.book(customer_id, store_code, local.date(), local.time(),
                                       [(sku, 1)], channel="web")
            break
    else:
        pytest.fail("no free slot whose reminder is due now in the next two days")
    async with db.transaction() as session:
        await session.execute(
            update(Booking).where(Booking.code == view.code)
            .values(created_at=now - timedelta(days=3))
        )
    assert await bookings.send_reminders() >= 1
    return view.code


async def reminder_on_whatsapp(twilio: Any, number: str, booking_code: str) -> Any:
    for _ in range(150):
        for message in twilio.sent_to(number):
            if booking_code in (message.body or ""):
                return message
        await asyncio.sleep(0.2)
    pytest.fail(f"no reminder for {booking_code} on WhatsApp: {twilio.sent_to(number)}")


async def slot_events(gateway: Gateway, customer_id: str) -> list[tuple[Any, ...]]:
    """The customer's tracker in Rasa, as (event, name/text, value) — shown on failure."""
    settings = gateway.services.settings
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(
            f"{settings.rasa_url}/conversations/{customer_id}/tracker",
            params={"token": settings.rasa_token, "include_events": "ALL"},
        )
    return [
        (e.get("event"), e.get("name") or e.get("text"), e.get("value"))
        for e in response.json().get("events") or []
        if e.get("event") in ("slot", "user", "session_started", "action", "bot")
    ]


async def all_values(url: str) -> str:
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
            chunks = []
            for table in tables:
                rows = (await connection.execute(text(f'SELECT * FROM "{table}"'))).all()
                chunks.extend(json.dumps([str(v) for v in row], ensure_ascii=False) for row in rows)
    finally:
        await database.dispose()
    return "\n".join(chunks)


@pytest.mark.parametrize("language", ["it", "en"])
async def test_one_customer_across_instagram_web_and_whatsapp(
    gateway: Gateway, language: str
) -> None:
    words = SCRIPT[language]
    meta, twilio = gateway.meta, gateway.twilio
    assert meta is not None and twilio is not None
    run = uuid.uuid4().hex[:8]
    igsid = f"{int(run, 16) % 10**15:015d}9"
    number = f"+39333{int(run, 16) % 10**7:07d}"
    spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
    name = f"Giulia Test{run}"
    meta.profiles[igsid] = {"name": name, "username": f"giulia.{run}"}
    _code_of_product, name_it, name_en = await trench_names(gateway)
    product_name = name_it if language == "it" else name_en
    stores = await milan_stores(gateway)

    # 1. Instagram: a product and a store.
    event = meta.message_event(igsid, words["ask"])
    status, _ = await meta.deliver(f"{gateway.url}/webhooks/instagram", meta.batch([[event]]))
    assert status == 200
    first = (await meta.wait_for(igsid, timeout=90))[0]["text"]
    named = [code for code, store_name in stores.items() if store_name in first]
    assert len(named) == 1, first
    store_code = named[0]
    ig_customer = await customer_by(gateway, "instagram", igsid)

    # 2. The website, logged in: the session joins the shop account's customer; a
    # consultant merges the Instagram customer into it.
    account = f"acct-{run}"
    token = issue_identity_token(STACK_IDENTITY_SECRET, account, name=name,
                                 email=f"{run}@example.com", language=language)
    web = await SignedInCustomer(gateway.url, token).connect()
    try:
        shop_customer = await customer_by(gateway, "shop", account)
        public_id = SessionIds.public(web.session_id or "")  # the server keeps only this part
        assert {"channel": "web", "external_id": public_id} in [
            {"channel": i["channel"], "external_id": i["external_id"]}
            for i in shop_customer["identities"]
        ]
        merged = await api(gateway, "POST", "/api/merges", json={
            "survivor_id": shop_customer["id"], "merged_id": ig_customer["id"],
            "actor": "consultant:anna", "reason": "same person: asked on Instagram, then on the site",
        })
        assert merged.status_code == 201, merged.text
        assert merged.json()["assistant_memory"] == "updated"

        still = texts(await web.say(words["still"], timeout=90))
        memory = await slot_events(gateway, shop_customer["id"])
        assert stores[store_code] in still, (still, memory)
        assert product_name in still, (still, memory)

        # 3. Link WhatsApp: the web chat shows a code, the phone sends it.
        shown = texts(await web.say(words["link"].format(spaced=spaced), timeout=90))
        assert words["shown"] in shown, shown
        [code] = find_codes(shown)
        assert twilio.sent_to(number) == []  # nothing goes to the number typed
        webhook = f"{gateway.url}/webhooks/whatsapp"
        wrong = new_code()
        await twilio.deliver(webhook, twilio.incoming(number, wrong, profile_name=name))
        [refused] = await twilio.wait_for(number, timeout=90)  # the assistant's answer
        assert refused.body != vetrina_text("link_proof_done", language), refused.body
        prefill = vetrina_text("link_proof_prefill", language, code=code)
        await twilio.deliver(webhook, twilio.incoming(number, prefill, profile_name=name))
        linked = (await twilio.wait_for(number, count=2, timeout=90))[-1]
        assert linked.body == vetrina_text("link_proof_done", language), linked.body
        told = await web.next("bot_uttered", timeout=30)  # the web chat hears it too
        assert "WhatsApp" in (told.get("text") or ""), told
    finally:
        await web.close()
    profile = await customer_by(gateway, "whatsapp", number)
    assert profile["id"] == shop_customer["id"]
    assert {i["channel"] for i in profile["identities"]} >= {"instagram", "web", "shop", "whatsapp"}

    # 4. WhatsApp: they write from the phone; the booking reminder follows them there.
    params = twilio.incoming(number, words["whatsapp"], profile_name=name)
    status, _ = await twilio.deliver(f"{gateway.url}/webhooks/whatsapp", params)
    assert status == 200
    await twilio.wait_for(number, count=3, timeout=90)  # two answers above, then this one
    booking_code = await book_with_reminder_due(gateway.services.db, profile["id"], store_code)
    gateway.services.outbox.wake()
    reminder = await reminder_on_whatsapp(twilio, number, booking_code)
    assert words["reminder"] in reminder.body, reminder.body
    assert reminder.content_sid is None  # inside the 24-hour window: a free-form message

    # 5. One timeline, in time order, with the three channels.
    response = await api(gateway, "GET", f"/api/customers/{profile['id']}/timeline",
                         params={"limit": "200"})
    items = response.json()["items"]
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    inbound = [i["channel"] for i in items if i["type"] == "message" and i["direction"] == "in"]
    order = [c for n, c in enumerate(inbound) if n == 0 or inbound[n - 1] != c]
    assert order == ["instagram", "web", "whatsapp"], inbound
    kinds = {i["type"] for i in items}
    assert {"stock_check", "merge", "channel_linked", "booking_reminder"} <= kinds, kinds

    # Erasure: nothing personal left in the gateway's database or Rasa's tracker store.
    secrets = [number, number.lstrip("+"), name, igsid, words["ask"], words["whatsapp"]]
    before = await all_values(gateway.services.db.url) + await all_values(gateway.tracker_store_url)
    assert all(s in before for s in secrets), [s for s in secrets if s not in before]
    erased = await api(gateway, "POST", f"/api/customers/{profile['id']}/erasure")
    assert erased.status_code == 200, erased.text
    assert erased.json()["assistant_events_deleted"] > 0
    after_erasure = (
        await all_values(gateway.services.db.url) + await all_values(gateway.tracker_store_url)
    )
    assert [s for s in secrets if s in after_erasure] == []
