"""The customer API through the real gateway app (SQLite and PostgreSQL): token, profile,
timeline pages, consents, merge/undo (with the assistant's memory updated through a
stand-in for Rasa's HTTP API), export, erasure, and the OpenAPI description."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import free_port
from tests.customers.helpers import make_customer, say, stock_check
from tests.fakes import FakeAssistant
from vetrina.gateway.api.openapi import OPENAPI
from vetrina.gateway.app import init_app
from vetrina.settings import Settings
from vetrina.storage.database import Database

TOKEN = "customer-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


class FakeRasaApi:
    """Rasa's ``POST /conversations/{id}/tracker/events``, recording what it is sent."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, str | None, list[dict[str, Any]]]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/conversations/{id}/tracker/events", self._events)
        return app

    async def _events(self, request: web.Request) -> web.Response:
        self.posted.append(
            (request.match_info["id"], request.query.get("token"), await request.json())
        )
        return web.json_response({"events": []})


@pytest_asyncio.fixture
async def rasa_api() -> AsyncIterator[tuple[FakeRasaApi, str]]:
    fake = FakeRasaApi()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def _client(db: Database, rasa_url: str, token: str = TOKEN) -> TestClient:
    settings = Settings(database_url=db.url, api_token=token, rasa_url=rasa_url,
                        rasa_token="rasa-token", tracker_store_url="")
    client = TestClient(TestServer(init_app(settings, assistant=FakeAssistant())))
    await client.start_server()
    return client


@pytest_asyncio.fixture
async def client(db: Database, rasa_api: tuple[FakeRasaApi, str]) -> AsyncIterator[TestClient]:
    client = await _client(db, rasa_api[1])
    yield client
    await client.close()


async def people(db: Database) -> tuple[str, str]:
    ig = await make_customer(db, "instagram", "IGSID-API-1", name="giulia.ig", language="it",
                             seen=T0)
    web_customer = await make_customer(db, "web", "session-api-1", name="Giulia",
                                       language="en", seen=T0 + timedelta(hours=1))
    await say(db, ig, "instagram", "avete le sneakers bianche?", T0)
    await stock_check(db, ig, "instagram", T0 + timedelta(seconds=1), product_code="VT0007",
                      size="42", store_code="MI-DUOMO")
    for n in range(3):
        await say(db, web_customer, "web", f"web message {n}", T0 + timedelta(hours=1, minutes=n))
    return ig, web_customer


async def test_no_token_configured_is_503_and_wrong_token_401(
    db: Database, rasa_api: tuple[FakeRasaApi, str], client: TestClient
) -> None:
    ig, _ = await people(db)
    assert (await client.get(f"/api/customers/{ig}")).status == 401
    assert (await client.get(f"/api/customers/{ig}",
                             headers={"Authorization": "Bearer nope"})).status == 401
    off = await _client(db, rasa_api[1], token="")
    try:
        response = await off.get(f"/api/customers/{ig}", headers=AUTH)
        assert response.status == 503 and (await response.json())["error"]["code"] == "disabled"
    finally:
        await off.close()


async def test_profile_timeline_and_consents(db: Database, client: TestClient) -> None:
    ig, _ = await people(db)
    response = await client.get(f"/api/customers/{ig}", headers=AUTH)
    assert response.status == 200
    body = await response.json()
    assert body["name"] == "giulia.ig" and body["identities"][0]["channel"] == "instagram"
    found = await client.get("/api/customers", params={"channel": "instagram",
                                                       "external_id": "IGSID-API-1"}, headers=AUTH)
    assert (await found.json())["id"] == ig
    assert (await client.get("/api/customers/nope", headers=AUTH)).status == 404

    patched = await client.patch(f"/api/customers/{ig}", headers=AUTH,
                                 json={"name": "Giulia Rossi", "sizes": {"shoes": "42"},
                                       "tags": ["vip"], "notes": "prefers Milan"})
    assert patched.status == 200 and (await patched.json())["sizes"] == {"shoes": "42"}
    bad = await client.patch(f"/api/customers/{ig}", headers=AUTH, json={"id": "x"})
    assert bad.status == 422

    consent = await client.post(f"/api/customers/{ig}/consents", headers=AUTH,
                                json={"channel": "whatsapp", "granted": True,
                                      "wording": "Vuoi offerte su WhatsApp?", "source": "chat"})
    assert consent.status == 201
    assert (await consent.json())["marketing_consent"]["whatsapp"]["wording"].startswith("Vuoi")

    page = await (await client.get(f"/api/customers/{ig}/timeline", headers=AUTH,
                                   params={"limit": "1"})).json()
    assert page["total"] == 2 and page["next_offset"] == 1
    assert page["items"][0]["type"] == "message" and page["items"][0]["author"] == "customer"
    second = await (await client.get(f"/api/customers/{ig}/timeline", headers=AUTH,
                                     params={"limit": "1", "offset": "1"})).json()
    assert second["items"][0]["type"] == "stock_check" and second["next_offset"] is None
    assert (await client.get(f"/api/customers/{ig}/timeline", headers=AUTH,
                             params={"limit": "abc"})).status == 422


async def test_merge_and_undo_through_the_api(
    db: Database, client: TestClient, rasa_api: tuple[FakeRasaApi, str]
) -> None:
    ig, web_customer = await people(db)
    fake, _ = rasa_api
    response = await client.post("/api/merges", headers=AUTH, json={
        "survivor_id": web_customer, "merged_id": ig, "actor": "consultant:anna",
        "reason": "same person, confirmed on the phone"})
    assert response.status == 201, await response.text()
    merge = await response.json()
    assert merge["moved"]["messages"] == 1 and merge["assistant_memory"] == "updated"
    sender, token, events = fake.posted[-1]
    assert sender == web_customer and token == "rasa-token"
    assert {e["name"]: e["value"] for e in events} == {
        "language": "en", "product_code": "VT0007", "size": "42", "store_code": "MI-DUOMO"}
    assert all(e["event"] == "slot" and "timestamp" not in e for e in events)  # Rasa's clock
    assert [p[2] for p in fake.posted] == [events, events]  # twice: see RasaMemory.remember

    timeline = await (await client.get(f"/api/customers/{web_customer}/timeline",
                                       headers=AUTH)).json()
    channels = [i["channel"] for i in timeline["items"] if i["type"] == "message"]
    assert channels == ["instagram", "web", "web", "web"]

    self_merge = await client.post("/api/merges", headers=AUTH, json={
        "survivor_id": web_customer, "merged_id": web_customer, "actor": "a", "reason": "r"})
    assert self_merge.status == 422 and (await self_merge.json())["error"]["code"] == "self_merge"
    again = await client.post("/api/merges", headers=AUTH, json={
        "survivor_id": web_customer, "merged_id": ig, "actor": "a", "reason": "r"})
    assert again.status == 409 and (await again.json())["error"]["code"] == "customer_gone"

    undo = await client.post(f"/api/merges/{merge['id']}/undo", headers=AUTH,
                             json={"actor": "admin:marco"})
    assert undo.status == 200 and (await undo.json())["undone_by"] == "admin:marco"
    twice = await client.post(f"/api/merges/{merge['id']}/undo", headers=AUTH,
                              json={"actor": "admin:marco"})
    assert twice.status == 409 and (await twice.json())["error"]["code"] == "already_undone"
    assert (await client.get(f"/api/merges/{merge['id']}", headers=AUTH)).status == 200
    assert (await client.get("/api/merges/99999", headers=AUTH)).status == 404
    not_json = await client.post("/api/merges", headers=AUTH, data=b"[1")
    assert not_json.status == 400 and (await not_json.json())["error"]["code"] == "bad_json"


async def test_export_and_erasure_through_the_api(db: Database, client: TestClient) -> None:
    ig, _ = await people(db)
    export = await client.get(f"/api/customers/{ig}/export", headers=AUTH)
    assert export.status == 200
    document = await export.json()
    assert document["tables"]["messages"][0]["text"] == "avete le sneakers bianche?"
    erased = await client.post(f"/api/customers/{ig}/erasure", headers=AUTH)
    assert erased.status == 200
    assert (await erased.json())["counts"]["messages"] == {"instagram:in": 1}
    after = await (await client.get(f"/api/customers/{ig}", headers=AUTH)).json()
    assert after["name"] is None and after["identities"] == [] and after["erased_at"]


async def test_every_api_route_is_in_the_openapi_description(client: TestClient) -> None:
    served = await (await client.get("/api/openapi.json")).json()
    assert served == OPENAPI
    described = {
        (path, method.upper())
        for path, item in OPENAPI["paths"].items()
        for method in item
        if method != "parameters"
    }
    routed = {
        (route.resource.canonical, route.method)
        for route in client.app.router.routes()
        if route.resource is not None
        and re.match(r"^/api/(customers|merges|orders|insights|bookings)", route.resource.canonical)
        and route.method != "HEAD"
    }
    assert routed == described
