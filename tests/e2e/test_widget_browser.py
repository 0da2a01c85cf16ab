"""A real browser: the storefront, the widget, a conversation, a reload that keeps it,
replies confirmed to the server, quick replies, and forgetting the chat."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import select

from tests.conftest import skip_or_fail
from tests.stack_fixtures import Gateway
from vetrina.conversations.models import Message
from vetrina.language import detect_language

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once per session, before any I/O
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


async def test_widget_confirms_replies_shows_quick_replies_and_forgets_the_chat(
    browser, gateway: Gateway  # type: ignore[no-untyped-def]
) -> None:
    """Every reply shown is confirmed to the server (``seen_at``); a clicked quick reply
    gets its answer; "Cancella questa chat" forgets the session on this device."""
    context = await browser.new_context(locale="it-IT")
    page = await context.new_page()
    try:
        await page.goto(gateway.url + "/")
        await page.click("#vetrina-launcher")
        await page.wait_for_selector("#vetrina-panel[data-state='online']", timeout=15_000)
        await page.fill("#vetrina-input", "cosa sai fare?")
        await page.click("#vetrina-send")
        button = page.locator(".vetrina-quick-reply", has_text="Prenota una prova")
        await button.wait_for(timeout=60_000)
        bot = page.locator("#vetrina-messages .vetrina-msg-bot:not(.vetrina-welcome)")
        shown = await bot.count()
        await button.click()
        await page.wait_for_function(
            "n => document.querySelectorAll("
            "'#vetrina-messages .vetrina-msg-bot:not(.vetrina-welcome)').length > n",
            arg=shown, timeout=60_000,
        )
        ids = [int(i) for i in await page.eval_on_selector_all(
            "#vetrina-messages .vetrina-msg-bot[data-id]", "ns => ns.map(n => n.dataset.id)"
        )]
        assert ids and len(ids) == len(set(ids))  # each reply once
        seen: dict[int, object] = {}
        for _ in range(50):  # the widget confirms what it shows
            async with gateway.services.db.sessions() as session:
                rows = (await session.execute(
                    select(Message.id, Message.seen_at).where(Message.id.in_(ids))
                )).all()
            seen = {row.id: row.seen_at for row in rows}
            if all(seen.values()):
                break
            await page.wait_for_timeout(100)
        assert len(seen) == len(ids) and all(seen.values()), seen

        session_id = await page.evaluate("() => localStorage.getItem('vetrina.session_id')")
        await page.click("#vetrina-menu-button")
        await page.click("#vetrina-forget")
        await page.wait_for_function(
            "old => { const s = localStorage.getItem('vetrina.session_id');"
            " return s && s !== old; }", arg=session_id, timeout=15_000,
        )
        assert await page.locator("#vetrina-messages .vetrina-msg-user").count() == 0
        await page.reload()
        if not await page.is_visible("#vetrina-panel"):
            await page.click("#vetrina-launcher")
        await page.wait_for_selector("#vetrina-panel[data-state='online']", timeout=15_000)
        await page.wait_for_timeout(500)  # the (empty) history has been drawn
        assert await page.locator("#vetrina-messages .vetrina-msg-user").count() == 0
    finally:
        await context.close()


async def test_the_widget_shows_who_is_typing_and_the_duty_header(
    browser, gateway: Gateway  # type: ignore[no-untyped-def]
) -> None:
    """A consultant typing shows "<Name> sta scrivendo…" (vetrina_typing), and the header
    line is the server's on-duty wording (vetrina_status), not the built-in default."""
    from channels.web.socket import WebNotifier
    from vetrina.messages import MESSAGES

    context = await browser.new_context(locale="it-IT")
    page = await context.new_page()
    try:
        await page.goto(gateway.url + "/")
        await page.click("#vetrina-launcher")
        await page.wait_for_selector("#vetrina-panel[data-state='online']", timeout=15_000)
        header = (await page.inner_text(".vetrina-status-text")).strip()
        assert header in {MESSAGES[k]["it"] for k in ("header_on_duty", "header_off_duty")} or (
            header.startswith("Assistente virtuale · i consulenti tornano")
        ), header
        await page.fill("#vetrina-input", "ciao")
        await page.click("#vetrina-send")
        bot = page.locator("#vetrina-messages .vetrina-msg-bot:not(.vetrina-welcome)")
        await bot.first.wait_for(timeout=60_000)
        async with gateway.services.db.sessions() as session:
            customer_id = await session.scalar(
                select(Message.customer_id).where(Message.direction == "in", Message.text == "ciao")
                .order_by(Message.id.desc()).limit(1)
            )
        assert customer_id is not None
        await WebNotifier(gateway.services.sio).consultant_typing(customer_id, "Giulia")
        typing = page.locator(".vetrina-typing.vetrina-typing-person")
        await typing.wait_for(timeout=10_000)
        assert (await typing.inner_text()).strip() == "Giulia sta scrivendo\u2026"
        assert await typing.get_attribute("aria-label") == "Giulia sta scrivendo\u2026"
    finally:
        await context.close()
