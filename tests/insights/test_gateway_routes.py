"""The insights endpoints as the running gateway serves them (``init_app``): each behind its
own token from the settings, bad input refused with the one error shape, nothing stored."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tests.channels.conftest import make_harness
from vetrina.catalog.demo import load_demo
from vetrina.catalog.models import Store, Variant
from vetrina.insights.models import Order

ORDERS = "orders-token-0123456789"
REPORTS = "reports-token-0123456789"
TILL = "till-token-0123456789abc"


async def test_orders_kpis_and_check_in_through_the_gateway(tmp_path: Path) -> None:
    env = {
        "VETRINA_ORDERS_TOKEN": ORDERS,
        "VETRINA_INSIGHTS_TOKEN": REPORTS,
        "VETRINA_CHECKIN_TOKEN": TILL,
    }
    async with make_harness(tmp_path, **env) as harness:
        db = harness.services.db
        await load_demo(db)
        async with db.sessions() as session:
            store = (await session.scalars(select(Store.code).order_by(Store.code))).first()
            variant = (await session.scalars(select(Variant).order_by(Variant.sku))).first()
        assert store is not None and variant is not None
        sold_at = datetime.now(timezone.utc) - timedelta(hours=2)
        sale = {
            "order_id": "TILL-0001", "type": "order", "occurred_at": sold_at.isoformat(),
            "source": "pos", "store": store, "currency": "EUR", "total": "59.90",
            "lines": [{"sku": variant.sku, "quantity": 1, "unit_price": "59.90"}],
            "customer": {"phone": "+39 333 765 4321"},
        }
        async with httpx.AsyncClient(base_url=harness.url, timeout=30) as http:
            bearer = {"Authorization": f"Bearer {ORDERS}"}
            refused = await http.post("/api/orders", json=[sale], headers={
                "Authorization": "Bearer wrong-token-0123456789"})
            bad = await http.post("/api/orders", json=[{**sale, "total": "-1"}], headers=bearer)
            applied = await http.post("/api/orders", json=[sale], headers=bearer)
            again = await http.post("/api/orders", json=[sale], headers=bearer)
            day = sold_at.date().isoformat()
            kpis = await http.get(f"/api/insights/kpis?from={day}&to={day}",
                                  headers={"Authorization": f"Bearer {REPORTS}"})
            anonymous = await http.get(f"/api/insights/kpis?from={day}&to={day}")
            csv = await http.get(f"/api/insights/kpis.csv?from={day}&to={day}",
                                 headers={"Authorization": f"Bearer {REPORTS}"})
            unknown = await http.post("/api/bookings/ZZ99ZZ/check-in",
                                      headers={"Authorization": f"Bearer {TILL}"})
            no_token = await http.post("/api/bookings/ZZ99ZZ/check-in")

        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorised"
        assert bad.status_code == 422 and bad.json()["error"]["details"], bad.text
        assert applied.status_code == 200, applied.text
        assert applied.json()["applied"] == 1
        assert again.status_code == 200 and again.json()["applied"] == 0  # idempotent
        assert kpis.status_code == 200, kpis.text
        assert anonymous.status_code == 401
        assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
        assert unknown.status_code == 404 and unknown.json()["error"]["code"]
        assert no_token.status_code == 401
        async with db.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(Order)) == 1
