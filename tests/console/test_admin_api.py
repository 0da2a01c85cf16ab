# ruff: noqa: F811  (pytest fixtures imported from test_console_api are parameters here)
"""The console's administration over HTTP (real gateway, SQLite and PostgreSQL): every
admin endpoint refuses a consultant (403) and bad input (a clear 400/404/409) without
changing anything, records each change with who and when, ends a deactivated account's
sessions at once, keeps at least one active admin, and hands out password reset codes
that work once, expire and are stored hashed."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.bookings.conftest import shop  # noqa: F401 (fixture)
from tests.console.test_console_api import PASSWORD, Desk, desk  # noqa: F401 (fixture)
from vetrina.catalog.models import Store
from vetrina.conversations.accounts import PasswordReset, redeem_reset
from vetrina.conversations.consultants import Consultant, ConsultantStore
from vetrina.conversations.duty_hours import StoreConsultantHours
from vetrina.storage.audit import AuditEntry
from vetrina.storage.base import utcnow

ADMIN = "/console/api/admin"


async def _state(desk: Desk) -> tuple[Any, ...]:
    """Everything an admin endpoint may change, to prove a refused call changed nothing."""
    async with desk.shop.db.sessions() as session:
        consultants = (await session.execute(
            select(Consultant.id, Consultant.email, Consultant.name, Consultant.role,
                   Consultant.active, Consultant.password_hash).order_by(Consultant.id)
        )).all()
        stores_of = (await session.execute(
            select(ConsultantStore.consultant_id, ConsultantStore.store_code)
            .order_by(ConsultantStore.consultant_id, ConsultantStore.store_code)
        )).all()
        stores = (await session.execute(
            select(Store.code, Store.try_on_enabled, Store.temporarily_closed).order_by(Store.code)
        )).all()
        hours = (await session.execute(select(StoreConsultantHours.store_code,
                                              StoreConsultantHours.hours))).all()
        resets = (await session.execute(select(PasswordReset.code_hash))).all()
        audit = (await session.execute(select(AuditEntry.id))).all()
    return (tuple(consultants), tuple(stores_of), tuple(stores), tuple(hours), tuple(resets),
            tuple(audit))


async def _id_of(desk: Desk, email: str) -> int:
    async with desk.shop.db.sessions() as session:
        found = await session.scalar(select(Consultant.id).where(Consultant.email == email))
    assert found is not None
    return int(found)


CALLS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/consultants", None),
    ("POST", "/consultants", {"email": "new@example.com", "name": "Nuova", "stores": ["MI"]}),
    ("PUT", "/consultants/{mi}", {"stores": ["RM"]}),
    ("POST", "/consultants/{mi2}/deactivate", None),
    ("POST", "/consultants/{mi2}/reactivate", None),
    ("POST", "/consultants/{mi}/password-reset", None),
    ("GET", "/audit", None),
    ("GET", "/stores", None),
    ("PUT", "/stores/MI", {"temporarily_closed": True}),
    ("PUT", "/stores/MI", {"try_on_enabled": False}),
    ("PUT", "/stores/MI", {"consultant_hours": "mon-fri 10:00-18:00"}),
]


async def test_a_consultant_gets_403_everywhere_and_nothing_changes(desk: Desk) -> None:
    mara, csrf = await desk.login("mi@example.com")
    admin, _ = await desk.login("admin@example.com")
    stranger = TestClient(desk.server)  # closing a client stops the server: all at the end
    await stranger.start_server()
    ids = {"mi": await _id_of(desk, "mi@example.com"), "mi2": await _id_of(desk, "mi2@example.com")}
    before = await _state(desk)
    try:
        for method, path, body in CALLS:
            url = ADMIN + path.format(**ids)
            answer = await mara.request(method, url, json=body, headers={"X-CSRF-Token": csrf})
            assert answer.status == 403, (method, path)
            assert (await answer.json())["error"]["code"] == "admins_only"
            # Without login: 401; an admin without the CSRF token: 403.
            assert (await stranger.request(method, url, json=body)).status == 401, (method, path)
            if method != "GET":
                assert (await admin.request(method, url, json=body)).status == 403, (method, path)
        page = await mara.get("/console/admin", allow_redirects=False)
        assert page.status == 302 and page.headers["Location"] == "/console"
        assert (await admin.get("/console/admin")).status == 200
    finally:
        for client in (mara, admin, stranger):
            await client.close()
    assert await _state(desk) == before


BAD_CREATES: list[tuple[Any, int]] = [
    ({}, 400),
    ({"email": "x@example.com"}, 400),  # no name
    ({"email": "not-an-email", "name": "X"}, 400),
    ({"email": "x@example.com", "name": "X", "role": "boss"}, 400),
    ({"email": "x@example.com", "name": "X", "stores": "MI"}, 400),
    ({"email": "x@example.com", "name": "X", "stores": ["ZZ"]}, 400),
    ({"email": "x@example.com", "name": "X", "stores": ["M I"]}, 400),
    ({"email": "x@example.com", "name": "X", "password": "short"}, 400),
    ({"email": "x@example.com", "name": "X", "password": 12345678901}, 400),
    ({"email": "x@example.com", "name": "X", "admin": True}, 400),  # unknown field
    ({"email": "x@example.com", "name": "X" * 201}, 400),
    ({"email": "x@example.com", "name": "a\x00b"}, 400),
    ({"email": "mi@example.com", "name": "Doppione"}, 409),
    (["not", "an", "object"], 400),
]


async def test_bad_input_is_a_clear_4xx_and_changes_nothing(desk: Desk) -> None:
    admin, csrf = await desk.login("admin@example.com")
    h = {"X-CSRF-Token": csrf}
    mi = await _id_of(desk, "mi@example.com")
    before = await _state(desk)
    try:
        for body, status in BAD_CREATES:
            answer = await admin.post(f"{ADMIN}/consultants", json=body, headers=h)
            assert answer.status == status, body
            error = (await answer.json())["error"]
            assert error["code"] and error["message"], body
        broken = await admin.post(f"{ADMIN}/consultants", data=b"{not json", headers={
            **h, "Content-Type": "application/json"})
        assert broken.status == 400
        for body in ({"role": "root"}, {"stores": ["XX"]}, {"stores": [1]}, {"email": "a@b.c"},
                     {"name": 3}):
            assert (await admin.put(f"{ADMIN}/consultants/{mi}", json=body, headers=h)
                    ).status == 400, body
        for path in ("/consultants/999999", "/consultants/abc", "/consultants/-1"):
            assert (await admin.put(ADMIN + path, json={"name": "X"}, headers=h)).status == 404
            assert (await admin.post(ADMIN + path + "/deactivate", headers=h)).status == 404
            assert (await admin.post(ADMIN + path + "/password-reset", headers=h)).status == 404
        for body in ({}, {"temporarily_closed": "yes"}, {"try_on_enabled": 1},
                     {"consultant_hours": "sempre"}, {"consultant_hours": "mon 19:00-09:00"},
                     {"consultant_hours": 9}, {"consultant_hours": "mon 09:00-18:00" * 20},
                     {"closed": True},
                     # a good field with a bad one: nothing of it is applied
                     {"temporarily_closed": True, "consultant_hours": "never"}):
            answer = await admin.put(f"{ADMIN}/stores/MI", json=body, headers=h)
            assert answer.status == 400, body
        assert (await admin.put(f"{ADMIN}/stores/NOPE", json={"try_on_enabled": False},
                                headers=h)).status == 404
        assert (await admin.put(f"{ADMIN}/stores/..%2F", json={"try_on_enabled": False},
                                headers=h)).status == 404
        for limit in ("0", "x", "501", "-1", "99999999999999999999"):
            assert (await admin.get(f"{ADMIN}/audit?limit={limit}")).status == 400
    finally:
        await admin.close()
    assert await _state(desk) == before


async def test_create_edit_and_every_change_recorded_with_who_and_when(desk: Desk) -> None:
    admin, csrf = await desk.login("admin@example.com")
    h = {"X-CSRF-Token": csrf}
    started = utcnow()
    try:
        made = await admin.post(f"{ADMIN}/consultants", json={
            "email": "Nuova@Example.com ", "name": "Nora", "stores": ["mi", "RM"]}, headers=h)
        assert made.status == 201
        data = await made.json()
        assert data["consultant"]["email"] == "nuova@example.com"
        assert data["consultant"]["stores"] == ["MI", "RM"] and data["consultant"]["active"]
        # No password given: a one-time link for Nora to choose hers.
        link = data["reset"]["link"]
        assert re.fullmatch(r"/console/login/reset\?code=[\w-]{20,}", link)
        nora = data["consultant"]["id"]

        edited = await admin.put(f"{ADMIN}/consultants/{nora}", json={
            "name": "Nora B.", "role": "admin", "stores": ["TO"]}, headers=h)
        assert edited.status == 200
        assert {k: (await edited.json())["consultant"][k] for k in ("name", "role", "stores")} == {
            "name": "Nora B.", "role": "admin", "stores": ["TO"]}

        for body in ({"try_on_enabled": False}, {"temporarily_closed": True},
                     {"consultant_hours": "mon-fri   10:00-18:00"}):
            answer = await admin.put(f"{ADMIN}/stores/mi", json=body, headers=h)
            assert answer.status == 200, body
        store = (await answer.json())["store"]
        assert (store["try_on_enabled"], store["temporarily_closed"], store["consultant_hours"]) \
            == (False, True, "mon-fri 10:00-18:00")
        listing = await (await admin.get(f"{ADMIN}/stores")).json()
        assert listing["default_consultant_hours"] == ""
        assert [s["code"] for s in listing["stores"]] == ["MI", "RM", "TO"]
        # The same value again is no change: no new record.
        await admin.put(f"{ADMIN}/stores/MI", json={"temporarily_closed": True}, headers=h)

        log = (await (await admin.get(f"{ADMIN}/audit")).json())["entries"]
        admin_id = await _id_of(desk, "admin@example.com")
        assert [e["action"] for e in log] == [
            "store.consultant_hours", "store.close", "store.try_on", "consultant.update",
            "consultant.password_reset", "consultant.create",
        ]
        assert {e["actor"] for e in log} == {f"consultant:{admin_id}:admin@example.com"}
        assert all(e["at"] >= started.isoformat()[:19] for e in log)
        assert log[0]["details"] == {"before": None, "after": "mon-fri 10:00-18:00"}
        assert log[3]["target"] == f"consultant:{nora}"
        assert log[3]["details"] == {"name": "Nora B.", "role": "admin", "stores": ["TO"]}
        assert all(link.split("=")[1] not in str(e) for e in log)  # never the code

        cleared = await admin.put(f"{ADMIN}/stores/MI", json={"consultant_hours": None},
                                  headers=h)
        assert (await cleared.json())["store"]["consultant_hours"] is None
    finally:
        await admin.close()


async def test_deactivated_consultant_is_out_at_once_even_on_an_open_websocket(
    desk: Desk,
) -> None:
    mara, mara_csrf = await desk.login("mi@example.com")
    admin, csrf = await desk.login("admin@example.com")
    mara_id = await _id_of(desk, "mi@example.com")
    try:
        ws = await mara.ws_connect("/console/ws")
        assert (await ws.receive_json(timeout=5))["topic"] == "hello"
        done = await admin.post(f"{ADMIN}/consultants/{mara_id}/deactivate",
                                headers={"X-CSRF-Token": csrf})
        assert done.status == 200 and (await done.json())["consultant"]["active"] is False
        closed = await ws.receive(timeout=5)
        assert closed.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        assert ws.close_code == 1008
        assert (await mara.get("/console/api/me")).status == 401
        assert (await mara.post("/console/api/presence", json={"presence": "online"},
                                headers={"X-CSRF-Token": mara_csrf})).status == 401
        assert (await mara.get("/console/ws")).status == 401
        page = await mara.get("/console", allow_redirects=False)
        assert page.headers["Location"] == "/console/login"
        assert (await admin.post(f"{ADMIN}/consultants/{mara_id}/password-reset",
                                 headers={"X-CSRF-Token": csrf})).status == 409
        # Signing in again is refused, until an admin reactivates the account.
        form = await (await mara.get("/console/login")).text()
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        assert token is not None
        refused = await mara.post("/console/login", data={
            "csrf": token.group(1), "email": "mi@example.com", "password": PASSWORD},
            allow_redirects=False)
        assert refused.status == 401
        assert (await admin.post(f"{ADMIN}/consultants/{mara_id}/reactivate",
                                 headers={"X-CSRF-Token": csrf})).status == 200
        back, _ = await desk.login("mi@example.com")
        assert (await back.get("/console/api/me")).status == 200
    finally:
        await mara.close()
        await admin.close()


async def test_the_last_admin_stays(desk: Desk) -> None:
    admin, csrf = await desk.login("admin@example.com")
    h = {"X-CSRF-Token": csrf}
    ada = await _id_of(desk, "admin@example.com")
    mara = await _id_of(desk, "mi@example.com")
    try:
        for path, body in ((f"/consultants/{ada}/deactivate", None),):
            answer = await admin.post(ADMIN + path, json=body, headers=h)
            assert answer.status == 409 and "yourself" in (await answer.json())["error"]["message"]
        demote = await admin.put(f"{ADMIN}/consultants/{ada}", json={"role": "consultant"},
                                 headers=h)
        assert demote.status == 409
        # With a second admin, that one can be demoted and deactivated, but Ada still not
        # by herself, and the second cannot take away the last admin either.
        assert (await admin.put(f"{ADMIN}/consultants/{mara}", json={"role": "admin"},
                                headers=h)).status == 200
        assert (await admin.post(f"{ADMIN}/consultants/{mara}/deactivate", headers=h)
                ).status == 200
        assert (await admin.put(f"{ADMIN}/consultants/{ada}", json={"role": "consultant"},
                                headers=h)).status == 409
        listed = (await (await admin.get(f"{ADMIN}/consultants")).json())["consultants"]
        assert [c["active"] for c in listed if c["id"] == mara] == [False]
    finally:
        await admin.close()
    async with desk.shop.db.sessions() as session:
        admins = (await session.scalars(select(Consultant.id).where(
            Consultant.role == "admin", Consultant.active.is_(True)))).all()
    assert admins == [ada]


async def test_a_reset_code_works_once_expires_and_is_stored_hashed(desk: Desk) -> None:
    admin, csrf = await desk.login("admin@example.com")
    mara = await _id_of(desk, "mi@example.com")
    mara_client, _ = await desk.login("mi@example.com")
    page = TestClient(desk.server)
    await page.start_server()
    h = {"X-CSRF-Token": csrf}
    try:
        reset_url = f"{ADMIN}/consultants/{mara}/password-reset"
        first = (await (await admin.post(reset_url, headers=h)).json())["reset"]
        second = (await (await admin.post(reset_url, headers=h)).json())["reset"]
        async with desk.shop.db.sessions() as session:
            stored = (await session.scalars(select(PasswordReset.code_hash))).all()
        assert first["code"] not in str(stored) and second["code"] not in str(stored)
        assert len(stored) == 2 and all(len(h) == 64 for h in stored)

        form = await page.get(second["link"])
        html = await form.text()
        assert form.status == 200 and second["code"] in html
        tokens = re.findall(r'name="csrf" value="([^"]+)"', html)

        async def submit(code: str, password: str, again: str | None = None) -> Any:
            """As a browser does: each page shown carries the next form's token."""
            answer = await page.post("/console/login/reset", data={
                "csrf": tokens[-1], "code": code, "password": password,
                "password2": password if again is None else again}, allow_redirects=False)
            tokens.extend(re.findall(r'name="csrf" value="([^"]+)"', await answer.text()))
            return answer

        assert (await submit(first["code"], "nuova password lunga")).status == 400  # voided
        assert (await submit(second["code"], "nuova password", "altra password")).status == 400
        assert (await submit(second["code"], "corta")).status == 400
        assert (await submit("x" * 2000, "nuova password lunga")).status == 400
        done = await submit(second["code"], "nuova password lunga")
        assert done.status == 302 and done.headers["Location"] == "/console/login?reset=1"
        tokens.extend(re.findall(r'name="csrf" value="([^"]+)"',
                                 await (await page.get(second["link"])).text()))
        assert (await submit(second["code"], "ancora un'altra")).status == 400  # once only
        no_csrf = await admin.post("/console/login/reset", data={
            "code": second["code"], "password": "x" * 12, "password2": "x" * 12})
        assert no_csrf.status == 403
        # Her old session is over.
        assert (await mara_client.get("/console/api/me")).status == 401

        # Expired: a day later the code no longer works; before, it does.
        late = (await (await admin.post(reset_url, headers=h)).json())["reset"]
        with pytest.raises(Exception, match="not valid"):
            await redeem_reset(desk.shop.db, late["code"], "nuova password lunga",
                               now=utcnow() + timedelta(hours=24, seconds=1))
        await redeem_reset(desk.shop.db, late["code"], "password ancora valida")
    finally:
        for client in (admin, mara_client, page):
            await client.close()


async def test_the_language_is_saved_on_the_account(desk: Desk) -> None:
    mara, csrf = await desk.login("mi@example.com")
    fresh = TestClient(desk.server)
    await fresh.start_server()
    try:
        assert (await (await mara.get("/console/api/me")).json())["language"] is None
        for bad in ({"language": "de"}, {"language": None}, {}, {"language": ["en"]}):
            assert (await mara.put("/console/api/me/language", json=bad,
                                   headers={"X-CSRF-Token": csrf})).status == 400
        assert (await mara.put("/console/api/me/language", json={"language": "en"})
                ).status == 403  # CSRF
        saved = await mara.put("/console/api/me/language", json={"language": "en"},
                               headers={"X-CSRF-Token": csrf})
        assert saved.status == 200
        assert "vetrina_console_lang=en" in saved.headers.get("Set-Cookie", "")
        assert (await (await mara.get("/console/api/me")).json())["language"] == "en"

        # A new browser (no cookie) gets English at login, from the account.
        form = await (await fresh.get("/console/login")).text()
        assert 'lang="it"' in form
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        assert token is not None
        login = await fresh.post("/console/login", data={
            "csrf": token.group(1), "email": "mi@example.com", "password": PASSWORD},
            allow_redirects=False)
        assert "vetrina_console_lang=en" in str(login.headers.getall("Set-Cookie"))
    finally:
        for client in (mara, fresh):
            await client.close()
