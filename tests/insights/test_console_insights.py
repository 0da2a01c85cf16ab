"""The console's Insights page and its JSON endpoint, through the real gateway: the session
decides the stores (a consultant only theirs, an admin all), bad input is a clear 4xx,
and the figures are those of ``Insights.kpis`` over hand-loaded sales."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from tests.console.fakes import FakeTracker
from tests.fakes import FakeAssistant
from tests.insights.world import NOW, T0, World, sale
from vetrina.conversations.consultants import Role, create_consultant
from vetrina.gateway.app import init_app
from vetrina.insights.kpis import KpiQuery
from vetrina.settings import Settings

PASSWORD = "insights password 1"
DAY = {"from": "2026-03-10", "to": "2026-03-10"}


@dataclass
class Gateway:
    server: TestServer
    world: World

    async def login(self, email: str) -> TestClient:
        client = TestClient(self.server)
        await client.start_server()
        page = await client.get("/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert csrf is not None
        response = await client.post(
            "/console/login",
            data={"csrf": csrf.group(1), "email": email, "password": PASSWORD},
            allow_redirects=False,
        )
        assert response.status == 302, await response.text()
        return client


@pytest_asyncio.fixture
async def gateway(lite: World) -> AsyncIterator[Gateway]:
    # Three till sales in Milan, one in Rome, one web order: worked out by hand below.
    result = await lite.insights.ingest(
        [
            sale("MI-1", T0),
            sale("MI-2", T0, total="50.00", unit="50.00"),
            sale("MI-3", T0, total="200.00", quantity=2),
            sale("RM-1", T0, store="RM"),
            sale("WEB-1", T0, store=None, source="web"),
        ],
        now=NOW,
    )
    assert result.applied == 5, result.problems
    settings = Settings(
        database_url=lite.db.url, worker_poll_interval=0.2, rasa_url="http://127.0.0.1:9",
        consultant_hours="",
    )
    server = TestServer(init_app(settings, assistant=FakeAssistant(), assistant_tracker=FakeTracker()))
    await server.start_server()
    await create_consultant(lite.db, "mi@example.com", "Mara", PASSWORD, stores=["MI"])
    await create_consultant(lite.db, "two@example.com", "Tea", PASSWORD, stores=["MI", "RM"])
    await create_consultant(lite.db, "admin@example.com", "Ada", PASSWORD, role=Role.ADMIN)
    yield Gateway(server, lite)
    await server.close()


async def test_without_a_session_the_page_redirects_and_the_api_says_401(gateway: Gateway) -> None:
    client = TestClient(gateway.server)
    await client.start_server()
    try:
        page = await client.get("/console/insights", allow_redirects=False)
        assert page.status == 302 and page.headers["Location"] == "/console/login"
        for path in ("kpis", "kpis.csv", "stores"):
            response = await client.get(f"/console/api/insights/{path}", params=DAY)
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "login_required"
    finally:
        await client.close()


async def test_a_consultant_sees_only_their_store(gateway: Gateway) -> None:
    client = await gateway.login("mi@example.com")
    try:
        response = await client.get("/console/api/insights/kpis", params=DAY)
        assert response.status == 200
        body = await response.json()
        assert body["store"] == "MI"  # their only store, without asking
        totals = body["totals"]
        assert (totals["store_purchases"], totals["revenue_cents"]) == (3, 35000)
        mine = await client.get("/console/api/insights/kpis", params={**DAY, "store": "mi"})
        assert (await mine.json())["totals"]["store_purchases"] == 3
        other = await client.get("/console/api/insights/kpis", params={**DAY, "store": "RM"})
        assert other.status == 403
        assert (await other.json())["error"] == {
            "code": "forbidden_store",
            "message": "choose one of your stores with ?store=",
            "details": {"stores": ["MI"]},
        }
        other_csv = await client.get("/console/api/insights/kpis.csv", params={**DAY, "store": "RM"})
        assert other_csv.status == 403
        stores = await (await client.get("/console/api/insights/stores")).json()
        assert stores == {"all_stores": False, "stores": [{"code": "MI", "name": "Vetrina Milano"}]}
    finally:
        await client.close()


async def test_a_consultant_of_two_stores_names_one(gateway: Gateway) -> None:
    client = await gateway.login("two@example.com")
    try:
        every = await client.get("/console/api/insights/kpis", params=DAY)
        assert every.status == 403  # "every store" is more than theirs
        rome = await client.get("/console/api/insights/kpis", params={**DAY, "store": "RM"})
        assert (await rome.json())["totals"]["store_purchases"] == 1
    finally:
        await client.close()


async def test_an_admin_sees_every_store_grouped_and_as_csv(gateway: Gateway) -> None:
    client = await gateway.login("admin@example.com")
    try:
        response = await client.get(
            "/console/api/insights/kpis", params={**DAY, "group_by": "store"}
        )
        assert response.status == 200
        body = await response.json()
        assert body["totals"]["store_purchases"] == 4
        assert body["totals"]["orders"] == 5
        assert body["totals"]["revenue_cents"] == 55000
        assert [(g["key"], g["store_purchases"]) for g in body["groups"]] == [
            (None, 0),
            ("MI", 3),
            ("RM", 1),
        ]
        same = await gateway.world.insights.kpis(KpiQuery(T0.date(), T0.date(), group_by="store"))
        assert body == same  # the console shows Insights.kpis, nothing of its own
        download = await client.get(
            "/console/api/insights/kpis.csv", params={**DAY, "group_by": "store"}
        )
        assert download.status == 200
        assert download.headers["Content-Type"].startswith("text/csv")
        assert "kpis-2026-03-10-2026-03-10.csv" in download.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(await download.text())))
        assert [(r["key"], r["store_purchases"]) for r in rows] == [("", "0"), ("MI", "3"), ("RM", "1")]
        stores = await (await client.get("/console/api/insights/stores")).json()
        assert stores["all_stores"] is True
        assert [s["code"] for s in stores["stores"]] == ["MI", "RM"]
    finally:
        await client.close()


async def test_bad_input_is_a_clear_4xx(gateway: Gateway) -> None:
    client = await gateway.login("admin@example.com")
    try:
        for params, status, code in (
            ({"from": "10/03/2026", "to": "2026-03-10"}, 400, "bad_query"),
            ({"from": "2026-03-10"}, 400, "bad_query"),
            ({"from": "2026-03-10", "to": "2026-02-30"}, 400, "bad_query"),
            ({"from": "2026-03-10", "to": "2026-03-01"}, 400, "bad_query"),
            ({"from": "2020-01-01", "to": "2026-03-01"}, 400, "bad_query"),
            ({**DAY, "group_by": "week"}, 400, "bad_query"),
            ({**DAY, "store": "NOPE"}, 404, "unknown_store"),
            ({**DAY, "store": "../../etc"}, 404, "unknown_store"),
            ({**DAY, "store": "x" * 500}, 404, "unknown_store"),
        ):
            for path in ("kpis", "kpis.csv"):
                response = await client.get(f"/console/api/insights/{path}", params=params)
                assert response.status == status, (params, await response.text())
                assert (await response.json())["error"]["code"] == code
    finally:
        await client.close()


async def test_the_page_its_files_and_the_vendored_library(gateway: Gateway) -> None:
    client = await gateway.login("mi@example.com")
    try:
        page = await client.get("/console/insights")
        assert page.status == 200
        text = await page.text()
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "<h1" in text and "<script>" not in text and "style=" not in text
        for src in re.findall(r'(?:src|href)="(/console/static/[^"]+)"', text):
            response = await client.get(src)
            assert response.status == 200, src
        library = await client.get("/console/static/vendor/uplot/uPlot.iife.min.js")
        assert library.status == 200
        assert "javascript" in library.headers["Content-Type"]
        for path in (
            "/console/static/vendor/uplot/LICENSE",
            "/console/static/vendor/uplot/README.md",
            "/console/static/vendor/uplot/..%2F..%2Finsights.py",
            "/console/static/vendor/..%2F..%2F/pages.py",
            "/console/static/vendor/uplot/%2E%2E",
            "/console/static/vendor/nope/uPlot.iife.min.js",
            "/console/static/insights.html",
        ):
            response = await client.get(path)
            assert response.status == 404, path
    finally:
        await client.close()
