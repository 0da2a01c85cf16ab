"""A real browser on a shop page (another origin than the gateway's) where the shopper is logged in: the
widget tag carries the shop's signed identity token and the chat joins the account; an
expired token shows the shopper a clear line and the chat goes on as a guest;
``VetrinaChat.identify(token)`` joins mid-chat."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from tests.conftest import free_port
from tests.e2e.test_widget_browser import browser  # noqa: F401  (the session's Chromium)
from tests.stack_fixtures import STACK_API_TOKEN, STACK_IDENTITY_SECRET, Gateway
from vetrina.conversations.notices import notice
from vetrina.customers.tokens import issue_identity_token

pytestmark = pytest.mark.e2e


@pytest_asyncio.fixture
async def shop(gateway: Gateway) -> AsyncIterator[dict[str, Any]]:
    """The retailer's site: its own server (another origin than the gateway's), serving
    ``/account`` with the widget tag and whatever token the test puts in ``state``."""
    state: dict[str, Any] = {"token": None}

    async def account(_request: web.Request) -> web.Response:
        return web.Response(text=shop_page(gateway, state["token"]), content_type="text/html")

    app = web.Application()
    app.router.add_get("/account", account)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    state["url"] = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


def shop_page(gateway: Gateway, token: str | None) -> str:
    attribute = f' data-identity-token="{token}"' if token else ""
    return (
        "<!doctype html><html lang='it'><head><meta charset='utf-8'><title>Shop</title></head>"
        f"<body><h1>My account</h1><script src='{gateway.url}/widget.js'{attribute} defer>"
        "</script></body></html>"
    )


async def open_shop(chromium, shop: dict[str, Any], token: str | None):  # type: ignore[no-untyped-def]
    shop["token"] = token
    context = await chromium.new_context(locale="it-IT")
    page = await context.new_page()
    await page.goto(f"{shop['url']}/account")
    await page.click("#vetrina-launcher")
    await page.wait_for_selector("#vetrina-panel[data-state='online']", timeout=15_000)
    return context, page


async def owner_of_account(gateway: Gateway, account: str) -> dict | None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        response = await client.get(
            "/api/customers", params={"channel": "shop", "external_id": account},
            headers={"Authorization": f"Bearer {STACK_API_TOKEN}"},
        )
    return response.json() if response.status_code == 200 else None


async def test_logged_in_shopper_joins_their_account(
    browser, gateway: Gateway, shop: dict[str, Any]  # noqa: F811
) -> None:
    account = f"acct-e2e-{uuid.uuid4().hex[:8]}"
    token = issue_identity_token(STACK_IDENTITY_SECRET, account, name="Marta Bianchi")
    context, page = await open_shop(browser, shop, token)
    try:
        session_id = await page.evaluate("() => localStorage.getItem('vetrina.session_id')")
        customer = await owner_of_account(gateway, account)
        assert customer is not None and customer["name"] == "Marta Bianchi"
        sessions = [i["external_id"] for i in customer["identities"] if i["channel"] == "web"]
        # Only the session id's public part is stored and shown (the signature is the key).
        assert session_id.startswith(sessions[0] + ".") and len(sessions) == 1
    finally:
        await context.close()


async def test_expired_token_is_explained_and_identify_joins_later(
    browser, gateway: Gateway, shop: dict[str, Any]  # noqa: F811
) -> None:
    account = f"acct-e2e-{uuid.uuid4().hex[:8]}"
    expired = issue_identity_token(STACK_IDENTITY_SECRET, account, ttl=60, now=time.time() - 7200)
    context, page = await open_shop(browser, shop, expired)
    try:
        system = page.locator("#vetrina-messages .vetrina-msg-system")
        await system.first.wait_for(timeout=10_000)
        assert notice("identity_token_expired", "it") in await system.first.inner_text()
        assert await owner_of_account(gateway, account) is None  # nothing changed

        fresh = issue_identity_token(STACK_IDENTITY_SECRET, account)
        await page.evaluate("(t) => window.VetrinaChat.identify(t)", fresh)
        for _ in range(50):
            if await owner_of_account(gateway, account) is not None:
                break
            await page.wait_for_timeout(100)
        assert await owner_of_account(gateway, account) is not None
    finally:
        await context.close()
