"""A real browser: the storefront, the widget, a conversation, a reload that keeps it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.conftest import skip_or_fail
from tests.stack_fixtures import Gateway
from vetrina.language import detect_language

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def test_shopper_chats_in_the_widget_and_sees_history_after_reload(
    browser, gateway: Gateway, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    context = await browser.new_context(locale="it-IT")
    page = await context.new_page()
    try:
        await page.goto(gateway.url + "/")
        await page.click("#vetrina-launcher")
        await page.wait_for_selector("#vetrina-panel[data-state='online']", timeout=15_000)
        await page.fill("#vetrina-input", "ciao")
        await page.click("#vetrina-send")
        bot = page.locator("#vetrina-messages .vetrina-msg-bot:not(.vetrina-welcome)")
        await bot.first.wait_for(timeout=60_000)
        reply = await bot.first.inner_text()
        assert detect_language(reply) == "it", reply
        await page.screenshot(path=str(tmp_path / "widget.png"))

        await page.reload()
        if not await page.is_visible("#vetrina-panel"):
            await page.click("#vetrina-launcher")
        user = page.locator("#vetrina-messages .vetrina-msg-user")
        await user.first.wait_for(timeout=15_000)
        assert (await user.first.inner_text()).strip() == "ciao"
        assert (await bot.first.inner_text()) == reply
    finally:
        await context.close()
