"""A matched order shows on the customer: in the customer API's profile and on her
timeline (store, items, total, matched key); an order that matched nobody shows nowhere."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from tests.fakes import FakeAssistant
from tests.insights.world import T0, World, sale
from vetrina.gateway.app import init_app
from vetrina.settings import Settings

TOKEN = "customer-api-token-0123456789"


async def test_matched_orders_are_on_the_profile(world: World) -> None:
    await world.insights.ingest(
        [
            sale("TILL-1", T0, customer={"phone": "+39 333 111 1111"}, total="100.00"),
            sale("TILL-2", T0, total="100.00"),  # nobody's
        ],
        now=T0,
    )
    settings = Settings(database_url=world.db.url, api_token=TOKEN, rasa_url="http://127.0.0.1:9",
                        tracker_store_url="")
    client = TestClient(TestServer(init_app(settings, assistant=FakeAssistant())))
    await client.start_server()
    try:
        response = await client.get(
            f"/api/customers/{world.anna}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert response.status == 200, await response.text()
        orders = (await response.json())["orders"]
        assert [(o["order_id"], o["store"], o["total_cents"], o["matched_key"]) for o in orders] == [
            ("TILL-1", "MI", 10000, "phone")
        ]
        assert orders[0]["items"] == [{"sku": "TR-M", "quantity": 1, "unit_price_cents": 10000}]
        timeline = await client.get(
            f"/api/customers/{world.anna}/timeline?order=desc&limit=200",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        entries = [e for e in (await timeline.json())["items"] if e["type"] == "order"]
        assert [(e["order_id"], e["total_cents"], e["matched_key"]) for e in entries] == [
            ("TILL-1", 10000, "phone")
        ]
        nobody = await client.get(
            f"/api/customers/{world.bruno}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert (await nobody.json())["orders"] == []
    finally:
        await client.close()
