"""The console over HTTP and its websocket, with the real gateway and a fake assistant:
login (CSRF, rate limit), store isolation (403), claim races, silence while a consultant
owns the chat, hand-back, and the store bookings page behind the login."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from tests.bookings.conftest import SATURDAY, Shop, shop  # noqa: F401 (fixture)
from tests.console.fakes import FakeTracker
from tests.fakes import FakeAssistant
from vetrina.conversations import handoff
from vetrina.conversations.consultants import Presence, Role, create_consultant, set_presence
from vetrina.conversations.handoff import CUSTOMER, HandoffOptions, Reason
from vetrina.conversations.inbox import InboundMessage
from vetrina.conversations.models import Author, Direction, Message
from vetrina.conversations.routing import ConsultantHours
from vetrina.gateway.app import SERVICES, init_app
from vetrina.gateway.console.login_guard import PAIR
from vetrina.gateway.keys import BOOKING_OUTCOMES, CONSOLE
from vetrina.settings import Settings

PASSWORD = "console password 1"
SWEEP_TOKEN = "sweep-token-0123456789"


@dataclass
class Desk:
    server: TestServer
    assistant: FakeAssistant
    shop: Shop
    memory: FakeTracker

    async def login(self, email: str) -> tuple[TestClient, str]:
        client = TestClient(self.server)
        await client.start_server()
        page = await client.get("/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert csrf is not None
        response = await client.post(
            "/console/login", data={"csrf": csrf.group(1), "email": email, "password": PASSWORD},
            allow_redirects=False,
        )
        assert response.status == 302, await response.text()
        me = await (await client.get("/console/api/me")).json()
        return client, me["csrf_token"]

    @property
    def services(self):  # type: ignore[no-untyped-def]
        return self.server.app[SERVICES]

    async def customer_writes(self, text: str, external_id: str = "sess-console-0001") -> int:
        received = await self.services.inbox.receive(
            InboundMessage(channel="web", external_id=external_id, text=text)
        )
        self.services.processor.wake()
        return received.message_id

    async def processed(self, message_id: int) -> None:
        for _ in range(100):
            async with self.shop.db.sessions() as session:
                row = await session.get(Message, message_id)
                if row is not None and row.status == "processed":
                    return
            await asyncio.sleep(0.05)
        raise AssertionError(f"message {message_id} not processed")


@pytest_asyncio.fixture
async def desk(shop: Shop) -> AsyncIterator[Desk]:  # noqa: F811
    settings = Settings(
        database_url=shop.db.url, worker_poll_interval=0.2, rasa_url="http://127.0.0.1:9",
        consultant_hours="", api_token=SWEEP_TOKEN, inventory_token=SWEEP_TOKEN,
        orders_token=SWEEP_TOKEN, checkin_token=SWEEP_TOKEN, insights_token=SWEEP_TOKEN,
    )
    assistant = FakeAssistant()
    memory = FakeTracker()
    server = TestServer(init_app(settings, assistant=assistant, assistant_tracker=memory))
    await server.start_server()
    await create_consultant(shop.db, "mi@example.com", "Mara", PASSWORD, stores=["MI"])
    await create_consultant(shop.db, "mi2@example.com", "Mino", PASSWORD, stores=["MI"])
    await create_consultant(shop.db, "rm@example.com", "Rita", PASSWORD, stores=["RM"])
    await create_consultant(shop.db, "admin@example.com", "Ada", PASSWORD, role=Role.ADMIN)
    yield Desk(server, assistant, shop, memory)
    await server.close()


async def _request(desk: Desk, text: str = "vorrei parlare con qualcuno") -> int:
    message_id = await desk.customer_writes(text)
    await desk.processed(message_id)
    async with desk.shop.db.sessions() as session:
        customer_id = (await session.get_one(Message, message_id)).customer_id
    outcome = await handoff.request_consultant(
        desk.shop.db, customer_id, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER,
        options=HandoffOptions(ConsultantHours.parse("")), store_hint="MI",
    )
    await desk.services.processor._on_replies_stored(customer_id)  # as after the bot's turn
    return outcome.conversation_id


async def test_nothing_without_login(desk: Desk) -> None:
    client = TestClient(desk.server)
    await client.start_server()
    try:
        page = await client.get("/console", allow_redirects=False)
        assert page.status == 302 and page.headers["Location"] == "/console/login"
        assert (await client.get("/console/api/queue")).status == 401
        assert (await client.get("/console/api/conversations/1")).status == 401
        assert (await client.post("/console/api/conversations/1/claim", json={})).status == 401
        assert (await client.get("/console/ws")).status == 401
        bookings = await client.get(
            "/console/stores/MI/bookings", headers={"Accept": "application/json"}
        )
        assert bookings.status == 401
        assert (await client.get("/staff/stores/MI/bookings", allow_redirects=False)).status in (
            302, 308, 401, 404,
        )
    finally:
        await client.close()


async def test_login_needs_csrf_and_is_rate_limited(desk: Desk) -> None:
    """Wrong passwords for one account from one address: the first PAIR.free + 1 are
    checked, then 429 with Retry-After until the pair's delay (1 s, then 2 s…) is over."""
    guard = desk.server.app[CONSOLE].guard
    now = [1_000_000.0]
    guard.clock = lambda: now[0]
    client = TestClient(desk.server)
    await client.start_server()
    try:
        no_csrf = await client.post(
            "/console/login", data={"email": "mi@example.com", "password": PASSWORD}
        )
        assert no_csrf.status == 403
        page = await (await client.get("/console/login")).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

        async def attempt(password: str = "wrong password") -> tuple[int, str | None]:  # noqa: S107
            nonlocal csrf
            response = await client.post(
                "/console/login",
                data={"csrf": csrf, "email": "mi@example.com", "password": password},
                allow_redirects=False,
            )
            found = re.search(r'name="csrf" value="([^"]+)"', await response.text())
            csrf = found.group(1) if found else csrf
            return response.status, response.headers.get("Retry-After")

        statuses = [await attempt() for _ in range(12)]
        free = PAIR.free + 1
        assert [s for s, _ in statuses] == [401] * free + [429] * (12 - free)
        assert statuses[-1][1] == "1"
        assert (await attempt(PASSWORD))[0] == 429  # even the right password waits its turn
        now[0] += 1.5
        assert await attempt() == (401, None)  # one more check, then a longer wait
        assert await attempt() == (429, "2")
        now[0] += 2.5
        assert (await attempt(PASSWORD))[0] == 302
    finally:
        await client.close()


async def test_store_isolation_csrf_claim_race_silence_and_hand_back(desk: Desk) -> None:
    mara, mara_csrf = await desk.login("mi@example.com")
    mino, mino_csrf = await desk.login("mi2@example.com")
    rita, rita_csrf = await desk.login("rm@example.com")
    ws = await mara.ws_connect("/console/ws")
    assert (await ws.receive_json(timeout=5))["topic"] == "hello"
    try:
        conversation_id = await _request(desk)
        event = await ws.receive_json(timeout=5)
        while event["topic"] != "queue":
            event = await ws.receive_json(timeout=5)
        assert event["conversation_id"] == conversation_id and event["status"] == "waiting"

        queue = await (await mara.get("/console/api/queue")).json()
        assert [c["conversation_id"] for c in queue["waiting"]] == [conversation_id]
        assert queue["waiting"][0]["store_code"] == "MI"
        assert queue["waiting"][0]["channel"] == "web"
        assert queue["waiting"][0]["reason"] == "customer_asked"
        assert (await (await rita.get("/console/api/queue")).json())["waiting"] == []

        url = f"/console/api/conversations/{conversation_id}"
        assert (await rita.get(url)).status == 403
        assert (await rita.post(url + "/claim", headers={"X-CSRF-Token": rita_csrf})).status == 403
        assert (await rita.post(
            url + "/messages", json={"text": "hi"}, headers={"X-CSRF-Token": rita_csrf}
        )).status == 403
        assert (await mara.post(url + "/claim")).status == 403  # no CSRF token
        assert (await mara.post(url + "/claim", headers={"X-CSRF-Token": mino_csrf})).status == 403
        assert (await mara.post(
            url + "/claim", headers={"X-CSRF-Token": mara_csrf, "Origin": "https://evil.example"}
        )).status == 403

        await ws.send_json({"watch": conversation_id})
        first, second = await asyncio.gather(
            mara.post(url + "/claim", headers={"X-CSRF-Token": mara_csrf}),
            mino.post(url + "/claim", headers={"X-CSRF-Token": mino_csrf}),
        )
        assert sorted([first.status, second.status]) == [200, 409]
        if first.status == 409:  # Mino was faster: he hands it to Mara
            await mino.post(
                url + "/transfer",
                json={"consultant_id": (await (await mara.get("/console/api/me")).json())["id"]},
                headers={"X-CSRF-Token": mino_csrf},
            )
        state = (await (await mara.get(url)).json())["state"]
        assert state["status"] == "with_consultant" and state["owner_name"] == "Mara"

        calls_before = len(desk.assistant.calls)
        reply = await mara.post(
            url + "/messages", json={"text": "Ciao, sono Mara!"},
            headers={"X-CSRF-Token": mara_csrf},
        )
        assert reply.status == 200
        silent_id = await desk.customer_writes("<script>alert(1)</script> grazie")
        await desk.processed(silent_id)
        assert len(desk.assistant.calls) == calls_before  # the assistant was not asked
        seen = None
        for _ in range(20):
            event = await ws.receive_json(timeout=5)
            if event["topic"] == "conversation" and event.get("type") == "message" and (
                event["message"]["id"] == silent_id
            ):
                seen = event["message"]
                break
        assert seen is not None and seen["text"] == "<script>alert(1)</script> grazie"
        async with desk.shop.db.sessions() as session:
            answers = (await session.scalars(
                select(Message).where(Message.in_reply_to_id == silent_id)
            )).all()
            consultant_msg = await session.scalar(
                select(Message).where(Message.author == Author.CONSULTANT.value)
            )
        assert answers == []
        assert consultant_msg is not None and consultant_msg.channel == "web"
        assert consultant_msg.direction == Direction.OUT.value

        customer_id = state["customer_id"]
        await desk.server.app[CONSOLE].desk.settle()  # tracker writes run in the background
        assert ("pause", customer_id) in desk.memory.calls
        assert ("remember", "<script>alert(1)</script> grazie") in desk.memory.calls
        assert ("remember_reply", "Ciao, sono Mara!") in desk.memory.calls
        back = await mara.post(url + "/hand-back", headers={"X-CSRF-Token": mara_csrf})
        assert back.status == 200 and (await back.json())["state"]["status"] == "bot"
        assert desk.memory.calls[-1] == ("resume", customer_id)
        async with desk.shop.db.sessions() as session:
            last = await session.scalar(
                select(Message).where(Message.customer_id == customer_id)
                .order_by(Message.id.desc()).limit(1)
            )
        assert last is not None and last.author == "bot" and "assistente automatico" in last.text
        answered = await desk.customer_writes("ancora io")
        await desk.processed(answered)
        assert desk.assistant.calls[-1].message_id == answered
        moves = [m["to"] for m in (await (await mara.get(url)).json())["moves"]]
        assert moves[0] == "waiting" and moves[-1] == "bot"
        assert set(moves[1:-1]) == {"with_consultant"}
    finally:
        await ws.close()
        for client in (mara, mino, rita):
            await client.close()


async def test_store_bookings_page_is_behind_the_login(desk: Desk) -> None:
    mara, _ = await desk.login("mi@example.com")
    rita, _ = await desk.login("rm@example.com")
    try:
        json_headers = {"Accept": "application/json"}
        mine = await mara.get(f"/console/stores/MI/bookings?date={SATURDAY}", headers=json_headers)
        assert mine.status == 200 and (await mine.json())["store"] == "MI"
        other = await rita.get(f"/console/stores/MI/bookings?date={SATURDAY}", headers=json_headers)
        assert other.status == 403
        page = await mara.get(f"/console/stores/MI/bookings?date={SATURDAY}")
        assert page.status == 200 and "MI" in await page.text()
    finally:
        await mara.close()
        await rita.close()


async def test_presence_is_set_and_shown(desk: Desk) -> None:
    mara, csrf = await desk.login("mi@example.com")
    try:
        team = (await (await mara.get("/console/api/consultants")).json())["consultants"]
        assert {c["name"]: c["presence"] for c in team}["Mara"] == "online"
        away = await mara.post("/console/api/presence", json={"presence": "away"},
                               headers={"X-CSRF-Token": csrf})
        assert away.status == 200
        team = (await (await mara.get("/console/api/consultants")).json())["consultants"]
        assert {c["name"]: c["presence"] for c in team}["Mara"] == "away"
    finally:
        await mara.close()


@pytest.mark.parametrize("admin", [False, True])
async def test_only_admins_merge_customers(desk: Desk, admin: bool) -> None:
    client, csrf = await desk.login("admin@example.com" if admin else "mi@example.com")
    try:
        response = await client.post(
            "/console/api/admin/merge",
            json={"survivor_id": desk.shop.alice, "merged_id": desk.shop.bob,
                  "reason": "same person"},
            headers={"X-CSRF-Token": csrf},
        )
        if not admin:
            assert response.status == 403
            return
        assert response.status == 200, await response.text()
        body = await response.json()
        merge = body["merge"]
        assert merge["survivor_id"] == desk.shop.alice and merge["merged_id"] == desk.shop.bob
        assert body["assistant_memory"].startswith("failed")  # no Rasa here; the merge stands
        undo = await client.post(
            f"/console/api/admin/merges/{merge['id']}/undo", headers={"X-CSRF-Token": csrf}
        )
        assert undo.status == 200, await undo.text()
    finally:
        await client.close()


_ = Presence, set_presence  # re-exported for other console tests


async def test_a_reply_that_cannot_go_out_is_shown_with_the_reason(desk: Desk) -> None:
    """Here the WhatsApp channel is off; beyond WhatsApp's 24 hours without an approved
    template the reply would be held the same way (tests/channels cover the senders)."""
    mara, csrf = await desk.login("mi@example.com")
    try:
        received = await desk.services.inbox.receive(
            InboundMessage(channel="whatsapp", external_id="+390000000077", text="aiuto")
        )
        desk.services.processor.wake()
        await desk.processed(received.message_id)
        outcome = await handoff.request_consultant(
            desk.shop.db, received.customer_id, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER,
            options=HandoffOptions(ConsultantHours.parse("")), store_hint="MI",
        )
        url = f"/console/api/conversations/{outcome.conversation_id}"
        waiting = (await (await mara.get("/console/api/queue")).json())["waiting"]
        # a person recognises the customer by the masked number, never by an id
        assert [w["customer_phone"] for w in waiting] == ["+39 ••• ••• 0077"]
        assert (await mara.post(url + "/claim", headers={"X-CSRF-Token": csrf})).status == 200
        sent = await mara.post(
            url + "/messages", json={"text": "Eccomi"}, headers={"X-CSRF-Token": csrf}
        )
        assert (await sent.json())["state"]["customer_phone"] == "+39 ••• ••• 0077"
        assert sent.status == 200
        reply = None
        for _ in range(50):
            timeline = (await (await mara.get(url)).json())["timeline"]
            reply = next(m for m in timeline if m["author"] == "consultant")
            if reply["problem"]:
                break
            await asyncio.sleep(0.1)
        assert reply is not None and reply["channel"] == "whatsapp"
        assert reply["status"] == "failed" and "whatsapp" in reply["problem"]
    finally:
        await mara.close()


async def test_stock_lookup_and_a_booking_on_the_customers_behalf(desk: Desk) -> None:
    from datetime import date, timedelta

    mara, csrf = await desk.login("mi@example.com")
    try:
        stock = await (await mara.get("/console/api/stock?q=stivale brera nero 41&store=MI")).json()
        assert stock["outcome"] == "answer" and stock["product"]["code"] == "BOOT"
        assert stock["store"]["code"] == "MI"
        assert {v["sku"]: v["available"] for v in stock["variants"]}["BOOT-NER-41"] == 5
        assert (await mara.get("/console/api/stock")).status == 400

        conversation_id = await _request(desk)
        url = f"/console/api/conversations/{conversation_id}"
        slots = []
        for ahead in range(2, 6):  # the next open day (the shop closes on 25 December)
            day = (date.today() + timedelta(days=ahead)).isoformat()
            slots = (await (await mara.get(f"{url}/slots?store=MI&date={day}")).json())["slots"]
            if slots:
                break
        assert slots and all(s["free"] > 0 for s in slots)
        # the time as the store's clock shows it (Europe/Rome), without seconds
        from datetime import datetime
        from zoneinfo import ZoneInfo

        first = datetime.fromisoformat(slots[0]["starts_at"]).astimezone(ZoneInfo("Europe/Rome"))
        assert slots[0]["local_time"] == f"{first:%H:%M}"
        booked = await mara.post(
            url + "/bookings", json={"store_code": "MI", "starts_at": slots[0]["starts_at"],
                                     "skus": "BOOT-NER-41"},
            headers={"X-CSRF-Token": csrf},
        )
        assert booked.status == 200, await booked.text()
        code = (await booked.json())["booking"]["code"]
        profile = (await (await mara.get(url)).json())["profile"]
        assert [b["code"] for b in profile["bookings"]] == [code]
        assert profile["bookings"][0]["items"][0]["sku"] == "BOOT-NER-41"
        refused = await mara.post(
            url + "/bookings", json={"store_code": "MI", "starts_at": slots[0]["starts_at"],
                                     "skus": "NOPE"},
            headers={"X-CSRF-Token": csrf},
        )
        assert refused.status == 400
    finally:
        await mara.close()


async def test_a_watch_ends_the_moment_the_conversation_moves_to_another_store(
    desk: Desk,
) -> None:
    """Issue 17, part 3: after a transfer to Rome, Mara (Milan) got its messages still."""
    mara, mara_csrf = await desk.login("mi@example.com")
    rita, rita_csrf = await desk.login("rm@example.com")
    mara_ws = await mara.ws_connect("/console/ws")
    rita_ws = await rita.ws_connect("/console/ws")

    async def until(ws, wanted):  # type: ignore[no-untyped-def]
        seen = []
        for _ in range(50):
            event = await ws.receive_json(timeout=10)
            seen.append(event)
            if wanted(event):
                return seen
        raise AssertionError(f"not received; got {seen}")

    try:
        conversation_id = await _request(desk)
        url = f"/console/api/conversations/{conversation_id}"
        await mara_ws.send_json({"watch": conversation_id})
        watching = {"topic": "watching", "conversation_id": conversation_id}
        await until(mara_ws, lambda e: e == watching)
        assert (await mara.post(url + "/claim", headers={"X-CSRF-Token": mara_csrf})).status == 200
        moved = await mara.post(
            url + "/transfer", json={"store_code": "RM"}, headers={"X-CSRF-Token": mara_csrf}
        )
        assert moved.status == 200 and (await moved.json())["state"]["store_code"] == "RM"
        await until(
            mara_ws, lambda e: e.get("topic") == "watching" and e.get("lost") == conversation_id
        )
        assert (await mara.get(url)).status == 403

        assert (await rita.post(url + "/claim", headers={"X-CSRF-Token": rita_csrf})).status == 200
        await rita_ws.send_json({"watch": conversation_id})
        secret = await desk.customer_writes("il mio indirizzo è via Roma 1")
        await desk.processed(secret)
        await until(rita_ws, lambda e: e.get("type") == "message" and e["message"]["id"] == secret)
        # A marker after it: each socket forwards its events in order, so by the time
        # Mara gets the marker she would have got the message before it.
        await desk.server.app[CONSOLE].bus.publish(
            "presence", {"type": "presence", "consultant_id": 0, "presence": "marker"}
        )
        seen = await until(mara_ws, lambda e: e.get("presence") == "marker")
        assert not [e for e in seen if e.get("conversation_id") == conversation_id], seen
        # Asking to watch it again is refused as well.
        await mara_ws.send_json({"watch": conversation_id})
        await until(mara_ws, lambda e: e == {"topic": "watching", "conversation_id": None})
    finally:
        await mara_ws.close()
        await rita_ws.close()
        await mara.close()
        await rita.close()


GARBAGE = [
    "99999999999999999999999", "9223372036854775808", "-1", "0", "1e9", "abc",
    "１２３",  # noqa: RUF001 (full-width digits: str.isdigit() is true, int() takes them)
    "%00", "%FF%FE", "1%2F2", "9" * 5000, "%F0%9F%98%80",
]


async def test_garbage_ids_and_parameters_never_make_a_500(desk: Desk) -> None:
    """Issue 17, part 5: conversation id 99999999999999999999999 was a 500. Every console
    and API route, with each path parameter and query replaced by garbage: 400/404 (or
    the route's own refusal), never 5xx, always the one error shape."""
    admin, csrf = await desk.login("admin@example.com")
    headers = {"X-CSRF-Token": csrf, "Authorization": f"Bearer {SWEEP_TOKEN}"}
    checked = 0
    try:
        for resource in desk.server.app.router.resources():
            info = resource.get_info()
            template = info.get("formatter") or info.get("path") or ""
            if not template.startswith(("/console/api", "/api/", "/console/stores")):
                continue
            methods = {route.method for route in resource if route.method != "HEAD"}
            names = re.findall(r"{(\w+)}", template)
            for value in GARBAGE if names else [""]:
                path = template
                for name in names:
                    path = path.replace("{" + name + "}", value)
                for method in methods:
                    for query in ("", "?date=2026-99-99&limit=99999999999999999999&offset=-1"
                              "&store=%FF&q=%00&order=x&channel=web&external_id=%00",
                              "?channel=web&external_id=" + "x" * 300):
                        response = await admin.request(
                            method, path + query, headers=headers,
                            json={"id": value, "text": "\x00", "store_code": value},
                        )
                        checked += 1
                        assert response.status < 500, (method, path[:80], query, response.status)
                        if response.status >= 400 and response.content_type == "application/json":
                            error = (await response.json())["error"]
                            assert set(error) == {"code", "message", "details"}, (path[:80], error)
                        if names and "id" in names and response.status != 403:
                            assert response.status in (400, 404), (
                                method, path[:80], response.status
                            )
    finally:
        await admin.close()
    assert checked > 300


async def test_the_day_sheet_records_arrival_completion_no_show_and_undo(desk: Desk) -> None:
    """The buttons of the day sheet, through the console API: a consultant of the store
    checks the shopper in (the sheet then says when, and offers Completed / Undo), two
    clicks at once on Completed give one 200 and one 409, Undo restores, a consultant of
    another store gets 403, garbage gets 400, an unknown code 404."""
    from tests.bookings.conftest import NOW, SATURDAY, stock_of

    view = await desk.shop.bookings.book(
        desk.shop.alice, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1)], channel="web", now=NOW
    )
    mara, mara_csrf = await desk.login("mi@example.com")
    mino, mino_csrf = await desk.login("mi2@example.com")
    rita, rita_csrf = await desk.login("rm@example.com")
    url = f"/console/api/bookings/{view.code}/outcome"

    def post(client: TestClient, csrf: str, body: object):  # type: ignore[no-untyped-def]
        return client.post(url, json=body, headers={"X-CSRF-Token": csrf})

    try:
        assert (await post(rita, rita_csrf, {"action": "arrived"})).status == 403
        assert (await mara.post(url, json={"action": "arrived"})).status == 403  # no CSRF
        for garbage in ({"action": "dance"}, ["arrived"], {"action": "undo", "undoes": "x"}):
            assert (await post(mara, mara_csrf, garbage)).status == 400
        unknown = await mara.post(
            "/console/api/bookings/ZZZZZZ/outcome", json={"action": "arrived"},
            headers={"X-CSRF-Token": mara_csrf},
        )
        assert unknown.status == 404

        arrived = await post(mara, mara_csrf, {"action": "arrived"})
        assert arrived.status == 200, await arrived.text()
        assert (await arrived.json())["checked_in_by"] == "mi@example.com"
        assert (await post(mino, mino_csrf, {"action": "no_show"})).status == 409  # arrived
        sheet = await (await mara.get(f"/console/stores/MI/bookings?date={SATURDAY}")).text()
        row = sheet[sheet.index(f"data-booking='{view.code}'"):]
        row = row[: row.index("</tr>")]
        assert "data-action='completed'" in row and "data-undoes='arrived'" in row
        assert "data-action='arrived'" not in row

        both = await asyncio.gather(
            post(mara, mara_csrf, {"action": "completed"}),
            post(mino, mino_csrf, {"action": "completed"}),
        )
        assert sorted(r.status for r in both) == [200, 409]
        assert await stock_of(desk.shop.db, "MI", "BOOT-NER-41") == (5, 0)  # released

        undone = await post(mino, mino_csrf, {"action": "undo", "undoes": "completed"})
        assert undone.status == 200 and (await undone.json())["status"] == "confirmed"
        assert await stock_of(desk.shop.db, "MI", "BOOT-NER-41") == (5, 1)  # held again
        history = await desk.server.app[BOOKING_OUTCOMES].history(view.code)
        assert [(h["action"], h["actor"]) for h in history] == [
            ("arrived", "mi@example.com"),
            ("completed", "mi@example.com") if both[0].status == 200
            else ("completed", "mi2@example.com"),
            ("undo", "mi2@example.com"),
        ]
    finally:
        for client in (mara, mino, rita):
            await client.close()
