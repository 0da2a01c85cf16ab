"""POST /api/orders and GET /api/insights/kpis(.csv) through a real aiohttp server."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from tests.insights.world import T0, World, sale
from vetrina.gateway.api.insights import KpiAccess, bearer_access, routes
from vetrina.gateway.http import errors
from vetrina.insights.models import Order

TOKEN = "orders-token-0123456789"
REPORTS = "reports-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _client(world: World, token: str = TOKEN) -> TestClient:
    reports = bearer_access(REPORTS)

    async def access(request: web.Request) -> KpiAccess | None:
        if request.headers.get("X-Test-Consultant") == "mi":
            return KpiAccess(frozenset({"MI"}))
        return await reports(request)

    app = web.Application(middlewares=[errors])  # the gateway's: ApiError → the one shape
    app.router.add_routes(routes(lambda _request: world.insights, orders_token=token, kpi_access=access))
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest_asyncio.fixture
async def client(world: World) -> AsyncIterator[TestClient]:
    client = await _client(world)
    yield client
    await client.close()


async def stored(world: World) -> int:
    async with world.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Order)) or 0)


async def post(
    client: TestClient, body: Any, headers: dict[str, str] | None = AUTH, data: bytes | None = None
) -> tuple[int, Any]:
    if data is not None:
        response = await client.post("/api/orders", data=data, headers=headers)
    else:
        response = await client.post("/api/orders", json=body, headers=headers)
    return response.status, await response.json()


async def test_orders_applied_matched_and_idempotent(client: TestClient, world: World) -> None:
    batch = [sale("S-1", T0, customer={"phone": "+39 333 111 1111"}), sale("S-2", T0)]
    assert await post(client, batch) == (200, {"applied": 2, "matched": 1, "unchanged": 0})
    assert await post(client, {"orders": batch}) == (
        200,
        {"applied": 0, "matched": 0, "unchanged": 2},
    )
    assert await stored(world) == 2


async def test_bad_records_are_all_listed_and_nothing_is_applied(
    client: TestClient, world: World
) -> None:
    status, body = await post(
        client, [sale("S-1", T0), sale("S-2", T0, sku="NOPE"), sale("S-3", T0, total="1.00")]
    )
    assert status == 422
    assert body["error"]["code"] == "invalid_records"
    assert body["error"]["details"] == {"errors": [
        {"index": 1, "order_id": "S-2", "reason": "lines[1].sku: unknown SKU 'NOPE'"},
        {
            "index": 2,
            "order_id": "S-3",
            "reason": "total: 1.00 does not add up to the lines (100.00)",
        },
    ]}
    assert await stored(world) == 0


async def test_tokens_sizes_and_bodies(client: TestClient, world: World) -> None:
    status, body = await post(client, [], headers={"Authorization": "Bearer wrong"})
    assert (status, body["error"]["code"]) == (401, "unauthorised")
    assert body["error"]["details"] == {}  # the API's one shape: details is an object
    refused = await client.post("/api/orders", json=[], headers={"Authorization": "Bearer wrong"})
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="orders"'
    status, body = await post(client, [], headers=None)
    assert status == 401
    status, body = await post(client, [sale(f"S-{n}", T0) for n in range(1001)])
    assert (status, body["error"]["details"]) == (413, {"max": 1000, "received": 1001})
    status, body = await post(client, None, data=b"{nope")
    assert (status, body["error"]["code"]) == (400, "not_json")
    status, body = await post(client, {"order": 1})
    assert (status, body["error"]["code"]) == (400, "not_a_list")
    assert await stored(world) == 0
    off = await _client(world, token="")
    try:
        status, body = await post(off, [])
        assert (status, body["error"]["code"]) == (503, "disabled")
    finally:
        await off.close()


async def test_kpis_json_and_csv(client: TestClient, world: World) -> None:
    await post(client, [sale("S-1", T0), sale("S-2", T0, store="RM")])
    headers = {"Authorization": f"Bearer {REPORTS}"}
    response = await client.get(
        "/api/insights/kpis",
        params={"from": "2026-03-10", "to": "2026-03-10", "group_by": "store"},
        headers=headers,
    )
    assert response.status == 200
    document = await response.json()
    assert [(g["key"], g["store_purchases"]) for g in document["groups"]] == [("MI", 1), ("RM", 1)]
    response = await client.get(
        "/api/insights/kpis.csv",
        params={"from": "2026-03-10", "to": "2026-03-10", "group_by": "store"},
        headers=headers,
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert [(r["key"], r["revenue_cents"]) for r in rows] == [("MI", "10000"), ("RM", "10000")]


async def test_kpi_access_and_bad_queries(client: TestClient, world: World) -> None:
    await post(client, [sale("S-1", T0), sale("S-2", T0, store="RM")])
    day = {"from": "2026-03-10", "to": "2026-03-10"}
    response = await client.get("/api/insights/kpis", params=day)
    assert response.status == 401
    mine = {"X-Test-Consultant": "mi"}
    response = await client.get("/api/insights/kpis", params=day, headers=mine)
    assert response.status == 200
    body = await response.json()
    assert (body["store"], body["totals"]["store_purchases"]) == ("MI", 1)
    response = await client.get("/api/insights/kpis", params={**day, "store": "RM"}, headers=mine)
    assert response.status == 403
    assert (await response.json())["error"]["details"] == {"stores": ["MI"]}
    headers = {"Authorization": f"Bearer {REPORTS}"}
    for params, message in (
        ({"from": "10/03/2026", "to": "2026-03-10"}, "YYYY-MM-DD"),
        ({**day, "group_by": "week"}, "group_by"),
        ({"from": "2026-03-10", "to": "2026-03-01"}, "before"),
    ):
        response = await client.get("/api/insights/kpis", params=params, headers=headers)
        assert response.status == 400
        assert message in (await response.json())["error"]["message"]
