# ruff: noqa: F811  (pytest fixtures imported from test_console_api are parameters here)
"""The console's desk tools over HTTP (real gateway, fake assistant, SQLite and
PostgreSQL): private notes never reach the customer and stay in their store, canned
replies are managed by admins only, and search finds a closed conversation without ever
showing another store's."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.bookings.conftest import shop  # noqa: F401 (fixture)
from tests.console.test_console_api import Desk, _request, desk  # noqa: F401 (fixture)
from vetrina.conversations import handoff
from vetrina.conversations.handoff import CUSTOMER, HandoffOptions, Reason
from vetrina.conversations.history import unseen_replies
from vetrina.conversations.models import Message
from vetrina.conversations.notes import ConversationNote
from vetrina.conversations.routing import ConsultantHours
from vetrina.customers.models import Customer
from vetrina.customers.privacy import erase_customer, export_customer
from vetrina.storage.base import utcnow

SECRET = "cliente difficile, non offrire sconti"


async def test_a_private_note_never_reaches_the_customer(desk: Desk) -> None:
    mara, mara_csrf = await desk.login("mi@example.com")
    rita, rita_csrf = await desk.login("rm@example.com")
    admin, admin_csrf = await desk.login("admin@example.com")
    try:
        conversation_id = await _request(desk)
        url = f"/console/api/conversations/{conversation_id}"
        for bad in ({}, {"text": "   "}, {"text": 3}, {"text": "x" * 2001}):
            answer = await mara.post(url + "/notes", json=bad, headers={"X-CSRF-Token": mara_csrf})
            assert answer.status == 400, bad
        assert (await mara.post(url + "/notes", json={"text": SECRET})).status == 403  # CSRF
        assert (await rita.post(
            url + "/notes", json={"text": "other store"}, headers={"X-CSRF-Token": rita_csrf}
        )).status == 403
        added = await mara.post(url + "/notes", json={"text": SECRET},
                                headers={"X-CSRF-Token": mara_csrf})
        assert added.status == 201
        assert (await added.json())["note"]["author_name"] == "Mara"
        assert (await admin.post(url + "/notes", json={"text": "visto"},
                                 headers={"X-CSRF-Token": admin_csrf})).status == 201

        shown = await (await mara.get(url)).json()
        assert [n["text"] for n in shown["notes"]] == [SECRET, "visto"]
        assert all(SECRET not in (t["text"] or "") for t in shown["timeline"])
        assert (await rita.get(url)).status == 403

        # The customer keeps writing and the consultant answers: still no note anywhere.
        await mara.post(url + "/claim", headers={"X-CSRF-Token": mara_csrf})
        await mara.post(url + "/messages", json={"text": "Eccomi"},
                        headers={"X-CSRF-Token": mara_csrf})
        customer_id = shown["state"]["customer_id"]
        async with desk.shop.db.sessions() as session:
            texts = (await session.scalars(select(Message.text))).all()
        assert texts and all(SECRET not in t for t in texts)
        web = await unseen_replies(desk.shop.db, "web", [customer_id], sent_before=utcnow())
        assert all(SECRET not in r.text for r in web)

        exported = await export_customer(desk.shop.db, customer_id)
        assert SECRET in str(exported["tables"].get("conversation_notes"))
        await erase_customer(desk.shop.db, customer_id)
        async with desk.shop.db.sessions() as session:
            assert (await session.scalars(select(ConversationNote))).all() == []
    finally:
        for client in (mara, rita, admin):
            await client.close()


async def test_only_admins_manage_canned_replies(desk: Desk) -> None:
    mara, mara_csrf = await desk.login("mi@example.com")
    rita, _ = await desk.login("rm@example.com")
    admin, admin_csrf = await desk.login("admin@example.com")
    base = "/console/api/admin/canned-replies"
    sent = {"store_code": "MI", "language": "it", "shortcut": "orari", "title": "Orari",
            "text": "Siamo aperti dalle 10 alle 19."}
    try:
        assert (await mara.post(base, json=sent, headers={"X-CSRF-Token": mara_csrf})).status == 403
        for bad in ({**sent, "language": "de"}, {**sent, "shortcut": "due parole"},
                    {**sent, "text": ""}, {**sent, "store_code": "XX"},
                    {**sent, "title": ["x"]}):
            answer = await admin.post(base, json=bad, headers={"X-CSRF-Token": admin_csrf})
            assert answer.status == 400, bad
        made = await admin.post(base, json=sent, headers={"X-CSRF-Token": admin_csrf})
        assert made.status == 201
        reply_id = (await made.json())["reply"]["id"]
        assert (await admin.post(base, json=sent, headers={"X-CSRF-Token": admin_csrf})
                ).status == 409  # the same shortcut twice in one store and language
        glob = {**sent, "store_code": None, "shortcut": "ciao", "title": "Saluto",
                "text": "Ciao, come posso aiutarti?"}
        assert (await admin.post(base, json=glob, headers={"X-CSRF-Token": admin_csrf})
                ).status == 201
        english = {**glob, "language": "en", "shortcut": "hi", "text": "Hi, how can I help?"}
        assert (await admin.post(base, json=english, headers={"X-CSRF-Token": admin_csrf})
                ).status == 201

        def shortcuts(data: dict[str, list[dict[str, str]]]) -> list[str]:
            return [r["shortcut"] for r in data["replies"]]

        listed = await (await mara.get("/console/api/canned-replies?language=it")).json()
        assert shortcuts(listed) == ["ciao", "orari"]
        assert shortcuts(await (await rita.get("/console/api/canned-replies?language=it")).json()
                         ) == ["ciao"]  # not Milan's
        assert (await mara.get("/console/api/canned-replies?language=xx")).status == 400

        edited = await admin.put(f"{base}/{reply_id}", json={**sent, "text": "Dalle 9."},
                                 headers={"X-CSRF-Token": admin_csrf})
        assert edited.status == 200 and (await edited.json())["reply"]["text"] == "Dalle 9."
        assert (await mara.put(f"{base}/{reply_id}", json=sent,
                               headers={"X-CSRF-Token": mara_csrf})).status == 403
        assert (await mara.delete(f"{base}/{reply_id}",
                                  headers={"X-CSRF-Token": mara_csrf})).status == 403
        assert (await admin.put(f"{base}/99999", json=sent,
                                headers={"X-CSRF-Token": admin_csrf})).status == 404
        assert (await admin.delete(f"{base}/abc", headers={"X-CSRF-Token": admin_csrf})
                ).status == 404
        assert (await admin.delete(f"{base}/{reply_id}", headers={"X-CSRF-Token": admin_csrf})
                ).status == 200
        assert (await admin.delete(f"{base}/{reply_id}", headers={"X-CSRF-Token": admin_csrf})
                ).status == 404
        listed = await (await mara.get("/console/api/canned-replies?language=it")).json()
        assert shortcuts(listed) == ["ciao"]
    finally:
        for client in (mara, rita, admin):
            await client.close()


async def _waiting(desk: Desk, external_id: str, store: str, name: str, text: str) -> int:
    message_id = await desk.customer_writes(text, external_id=external_id)
    await desk.processed(message_id)
    async with desk.shop.db.transaction() as session:
        customer_id = (await session.get_one(Message, message_id)).customer_id
        (await session.get_one(Customer, customer_id)).display_name = name
    outcome = await handoff.request_consultant(
        desk.shop.db, customer_id, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER,
        options=HandoffOptions(ConsultantHours.parse("")), store_hint=store,
    )
    return outcome.conversation_id


async def test_search_finds_a_closed_conversation_and_never_another_stores(
    desk: Desk,
) -> None:
    mara, mara_csrf = await desk.login("mi@example.com")
    rita, rita_csrf = await desk.login("rm@example.com")
    admin, _ = await desk.login("admin@example.com")
    try:
        milan = await _waiting(desk, "sess-search-mi-01", "MI", "Giulia Bianchi",
                               "cerco gli stivali neri 100% pelle")
        rome = await _waiting(desk, "sess-search-rm-01", "RM", "Giulia Rossi",
                              "cerco gli stivali marroni")
        url = f"/console/api/conversations/{milan}"
        assert (await mara.post(url + "/claim", headers={"X-CSRF-Token": mara_csrf})).status == 200
        closed = await mara.post(url + "/close", headers={"X-CSRF-Token": mara_csrf})
        assert (await closed.json())["state"]["status"] == "closed"

        async def found(client: TestClient, query: str) -> list[int]:
            answer = await client.get("/console/api/search?" + query)
            assert answer.status == 200, await answer.text()
            return [r["conversation_id"] for r in (await answer.json())["results"]]

        assert await found(mara, "q=giulia") == [milan]
        assert await found(mara, "q=giulia&status=closed") == [milan]
        assert await found(mara, "q=GIULIA&status=waiting") == []
        assert await found(mara, "q=stivali") == [milan]  # message text; never Rome's
        assert await found(mara, "q=100%25") == [milan]  # a typed % is a percent sign
        assert await found(mara, "q=%25") == [milan]
        assert await found(mara, "q=_") == []  # a typed _ is no wildcard
        assert await found(mara, "status=closed&channel=web&store=MI") == [milan]
        assert await found(rita, "q=giulia") == [rome]
        assert await found(rita, "q=Bianchi") == []
        assert sorted(await found(admin, "q=giulia")) == sorted([milan, rome])
        assert await found(admin, "q=giulia&store=RM&status=waiting") == [rome]
        today = utcnow().date()
        period = f"from={today - timedelta(days=1)}&to={today}"
        assert await found(mara, "q=giulia&" + period) == [milan]
        old = f"from={today - timedelta(days=9)}&to={today - timedelta(days=8)}"
        assert await found(mara, "q=giulia&" + old) == []
        assert len(await found(admin, "limit=1")) == 1
        page = await (await admin.get("/console/api/search?limit=1")).json()
        assert page["has_more"] is True

        assert (await rita.get("/console/api/search?store=MI")).status == 403
        for bad in ("status=open", "channel=fax", "from=2026-13-01", "from=yesterday",
                    "limit=0", "limit=51", "limit=abc", "offset=-1", "store=%25%25",
                    "from=2026-02-02&to=2026-02-01", "q=" + "x" * 101):
            answer = await mara.get("/console/api/search?" + bad)
            assert answer.status == 400, bad
            assert (await answer.json())["error"]["message"]

        opened = await (await mara.get(url)).json()  # a closed conversation is read again
        assert opened["state"]["status"] == "closed"
        assert any("stivali" in m["text"] for m in opened["timeline"])
        assert (await rita.get(url)).status == 403
        assert (await rita.post(url + "/reopen", headers={"X-CSRF-Token": rita_csrf})
                ).status == 403
        again = await mara.post(url + "/reopen", headers={"X-CSRF-Token": mara_csrf})
        assert again.status == 200
        assert (await again.json())["state"]["status"] == "with_consultant"
        assert (await mara.post(url + "/reopen", headers={"X-CSRF-Token": mara_csrf})
                ).status == 409  # no longer closed
        assert (await mara.post(url + "/messages", json={"text": "Eccomi di nuovo"},
                                headers={"X-CSRF-Token": mara_csrf})).status == 200
    finally:
        for client in (mara, rita, admin):
            await client.close()


async def test_a_booking_code_finds_its_customers_conversation(desk: Desk) -> None:
    from tests.bookings.conftest import NOW, SATURDAY

    mara, _ = await desk.login("mi@example.com")
    rita, _ = await desk.login("rm@example.com")
    try:
        conversation_id = await _waiting(desk, "sess-search-code-1", "MI", "Marta", "una prova")
        state = await handoff.conversation_state(desk.shop.db, conversation_id)
        assert state is not None
        view = await desk.shop.bookings.book(
            state.customer_id, "MI", SATURDAY, "10:30", [("BOOT-NER-41", 1)], channel="web",
            now=NOW,
        )
        answer = await (await mara.get(f"/console/api/search?q={view.code.lower()}")).json()
        assert [r["conversation_id"] for r in answer["results"]] == [conversation_id]
        assert (await (await rita.get(f"/console/api/search?q={view.code}")).json()
                )["results"] == []
    finally:
        for client in (mara, rita):
            await client.close()
