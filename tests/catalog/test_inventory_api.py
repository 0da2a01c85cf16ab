"""POST /api/inventory/stock through the real gateway app (aiohttp test client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from tests.fakes import FakeAssistant
from vetrina.catalog.models import OnlineStock, Store, StoreStock, Variant
from vetrina.gateway.api.inventory import MAX_BATCH
from vetrina.gateway.app import init_app
from vetrina.settings import Settings, SettingsError
from vetrina.storage.database import Database

TOKEN = "pos-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
URL = "/api/inventory/stock"


async def _client(db: Database, token: str) -> TestClient:
    app = init_app(Settings(database_url=db.url, inventory_token=token), assistant=FakeAssistant())
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest_asyncio.fixture
async def client(catalog: Database) -> AsyncIterator[TestClient]:
    client = await _client(catalog, TOKEN)
    yield client
    await client.close()


async def stock(db: Database) -> dict[tuple[str, str], int]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(Store.code, Variant.sku, StoreStock.on_hand).join(Store).join(Variant)
        )
        online = await session.execute(select(Variant.sku, OnlineStock.on_hand).join(Variant))
        return {**{(s, k): n for s, k, n in rows}, **{("online", k): n for k, n in online}}


async def post(
    client: TestClient, body: Any, headers: dict[str, str] | None = AUTH
) -> tuple[int, Any]:
    response = await client.post(URL, json=body, headers=headers)
    return response.status, await response.json()


async def test_disabled_without_a_token(catalog: Database) -> None:
    client = await _client(catalog, "")
    try:
        status, body = await post(client, [])
    finally:
        await client.close()
    assert (status, body) == (
        503,
        {"error": {"code": "disabled", "details": {},
                   "message": "this endpoint is disabled: set VETRINA_INVENTORY_TOKEN"}},
    )


async def test_missing_or_wrong_token_is_401(client: TestClient, catalog: Database) -> None:
    item = [{"store": "MI", "sku": "BOOT-NER-41", "on_hand": 3}]
    for headers in (
        None,
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ):
        response = await client.post(URL, json=item, headers=headers)
        assert response.status == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert await stock(catalog) == {}


async def test_valid_batch_is_applied_and_repeat_is_idempotent(
    client: TestClient, catalog: Database
) -> None:
    batch = [
        {"store": "MI", "sku": "BOOT-NER-41", "on_hand": 3},
        {"store": "RM", "sku": "BOOT-NER-41", "on_hand": 0},
        {"store": "online", "sku": "TEE-BIA-M", "on_hand": 40},
    ]
    assert await post(client, batch) == (200, {"applied": 3})
    expected = {("MI", "BOOT-NER-41"): 3, ("RM", "BOOT-NER-41"): 0, ("online", "TEE-BIA-M"): 40}
    assert await stock(catalog) == expected
    assert await post(client, {"items": batch}) == (200, {"applied": 3})
    assert await stock(catalog) == expected
    assert await post(client, [{"store": "MI", "sku": "BOOT-NER-41", "on_hand": 1}]) == (
        200,
        {"applied": 1},
    )
    assert (await stock(catalog))[("MI", "BOOT-NER-41")] == 1


async def test_bad_items_are_all_listed_and_nothing_is_applied(
    client: TestClient, catalog: Database
) -> None:
    batch = [
        {"store": "MI", "sku": "BOOT-NER-41", "on_hand": 3},  # valid, but the batch fails
        {"store": "MI", "sku": "NOPE", "on_hand": 1},
        {"store": "XX", "sku": "BOOT-NER-41", "on_hand": 1},
        {"store": "MI", "sku": "BOOT-NER-40", "on_hand": -4},
        {"store": "MI", "sku": "BOOT-NER-42", "on_hand": "tre"},
        {"store": "MI", "sku": "BOOT-NER-42", "on_hand": 2.5},
        {"store": "MI", "sku": "BOOT-NER-42"},
        "MI,BOOT-NER-42,3",
        {"store": "MI", "sku": "BOOT-NER-41", "on_hand": 4},
        {"store": "MI", "sku": "BOOT-MAR-41", "on_hand": True, "price": 10},
    ]
    status, body = await post(client, batch)
    assert status == 422 and body["error"]["code"] == "invalid_items"
    details = body["error"]["details"]
    assert details["applied"] == 0
    assert [(e["index"], e["reason"]) for e in details["errors"]] == [
        (1, "unknown SKU 'NOPE'"),
        (2, "unknown store 'XX'"),
        (3, "on_hand: cannot be negative, got -4"),
        (4, "on_hand: must be a whole number of pieces, got 'tre'"),
        (5, "on_hand: must be a whole number of pieces, got 2.5"),
        (6, "on_hand: is missing"),
        (7, "must be an object with store, sku and on_hand"),
        (8, "store 'MI' and SKU 'BOOT-NER-41' already given at item 0"),
        (
            9,
            "unknown field 'price' (expected store, sku, on_hand); on_hand: must be a whole number of pieces, got True",
        ),
    ]
    assert details["errors"][0]["store"] == "MI" and details["errors"][0]["sku"] == "NOPE"
    assert await stock(catalog) == {}


async def test_oversized_and_malformed_batches(client: TestClient, catalog: Database) -> None:
    item = {"store": "MI", "sku": "BOOT-NER-41", "on_hand": 1}
    status, body = await post(client, [item] * (MAX_BATCH + 1))
    assert status == 413 and f"at most {MAX_BATCH} items" in body["error"]["message"]
    response = await client.post(URL, data=b"{not json", headers=AUTH)
    assert response.status == 400
    assert (await response.json())["error"] == {
        "code": "bad_json", "message": "the body is not JSON", "details": {}
    }
    status, body = await post(client, {"stock": [item]})
    assert status == 400 and "expected a JSON list" in body["error"]["message"]
    deep = b"[" * 5000 + b"]" * 5000  # issue 17, part 5: RecursionError was a 500
    response = await client.post(URL, data=deep, headers=AUTH)
    assert response.status == 400 and (await response.json())["error"]["code"] == "bad_json"
    assert await stock(catalog) == {}
    assert await post(client, []) == (200, {"applied": 0})


def test_settings_for_stock() -> None:
    settings = Settings.from_env({"VETRINA_SAFETY_STOCK": "3", "VETRINA_INVENTORY_TOKEN": TOKEN})
    assert (settings.safety_stock, settings.inventory_token) == (3, TOKEN)
    assert (Settings.from_env({}).safety_stock, Settings.from_env({}).inventory_token) == (2, "")
    with pytest.raises(SettingsError, match="at least 16 characters"):
        Settings.from_env({"VETRINA_INVENTORY_TOKEN": "short"})
    with pytest.raises(SettingsError, match="VETRINA_SAFETY_STOCK"):
        Settings.from_env({"VETRINA_SAFETY_STOCK": "-1"})
