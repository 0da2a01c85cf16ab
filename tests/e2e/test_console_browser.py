"""The console and the widget in headless Chromium, two pages at once, on a gateway with a
fake assistant (no Rasa): the request appears live, the consultant claims and replies, the
shopper sees it, markup from the shopper stays text, the assistant is silent until the
hand-back. The whole-stack version with real Rasa is test_handoff_journeys.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from channels.web.session_ids import SessionIds
from tests.conftest import free_port
from tests.console.fakes import FakeTracker
from tests.e2e.test_widget_browser import browser  # noqa: F401 (session fixture)
from tests.fakes import FakeAssistant
from vetrina.conversations.consultants import create_consultant
from vetrina.conversations.handoff import CUSTOMER, HandoffOptions, Reason, request_consultant
from vetrina.conversations.routing import ConsultantHours
from vetrina.customers.identities import find_customer_id
from vetrina.gateway.app import SERVICES, init_app
from vetrina.gateway.keys import CONSOLE
from vetrina.settings import Settings
from vetrina.storage.migrate import upgrade_async

pytestmark = pytest.mark.e2e
PASSWORD = "browser console password"


@dataclass
class Running:
    url: str
    app: web.Application
    assistant: FakeAssistant


@pytest_asyncio.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'console.db'}"
    await upgrade_async(url)
    port = free_port()
    settings = Settings(
        database_url=url, port=port, worker_poll_interval=0.2, consultant_hours="",
        delayed_notice_after=30,
    )
    assistant = FakeAssistant()
    app = init_app(settings, assistant=assistant, assistant_tracker=FakeTracker())
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await create_consultant(app[SERVICES].db, "giulia@example.com", "Giulia", PASSWORD)
    try:
        yield Running(f"http://127.0.0.1:{port}", app, assistant)
    finally:
        await runner.cleanup()


async def _queue_request(running: Running, session_id: str) -> None:
    """What action_request_consultant does (here without Rasa)."""
    db = running.app[SERVICES].db
    async with db.sessions() as session:
        # The widget holds the signed id; the server keeps only its public part.
        customer_id = await find_customer_id(session, "web", SessionIds.public(session_id))
    assert customer_id is not None
    await request_consultant(
        db, customer_id, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER,
        options=HandoffOptions(ConsultantHours.parse("")),
    )
    await running.app[CONSOLE].desk.after_bot_turn(customer_id)


async def test_console_and_widget_side_by_side(
    browser: Any, running: Running, tmp_path: Path  # noqa: F811
) -> None:
    consultant_context = await browser.new_context(locale="it-IT")
    shopper_context = await browser.new_context(locale="it-IT")
    console = await consultant_context.new_page()
    shopper = await shopper_context.new_page()
    try:
        await console.goto(running.url + "/console/login")
        await console.fill("#email", "giulia@example.com")
        await console.fill("#password", "wrong password!!")
        await console.click("#login")
        await console.wait_for_selector(
            "#login-message:has-text('Email o password errate')", timeout=15_000
        )
        await console.fill("#email", "giulia@example.com")
        await console.fill("#password", PASSWORD)
        await console.click("#login")
        await console.wait_for_selector("#live[data-state='online']", timeout=15_000)
        # The team list comes from its own request, which may finish after the socket.
        await console.wait_for_selector("#team li:has-text('Giulia')", timeout=15_000)
        assert "Giulia" in await console.inner_text("#team")

        await shopper.goto(running.url + "/")
        await shopper.click("#vetrina-launcher")
        await shopper.wait_for_selector("#vetrina-panel[data-state='online']", timeout=15_000)
        bot = shopper.locator("#vetrina-messages .vetrina-msg-bot:not(.vetrina-welcome)")
        await shopper.fill("#vetrina-input", "ciao")
        await shopper.click("#vetrina-send")
        await bot.first.wait_for(timeout=15_000)
        session_id = await shopper.evaluate(
            "Object.keys(localStorage).map(k => localStorage.getItem(k))"
            ".find(v => /^[A-Za-z0-9_.:-]{8,100}$/.test(v || ''))"
        )
        await _queue_request(running, session_id)

        item = console.locator("#queue .queue-item").first
        await item.wait_for(timeout=5_000)  # live, without reloading the page
        assert await item.locator(".channel").get_attribute("data-channel") == "web"
        await item.click()
        await console.wait_for_selector("#timeline .msg-customer", timeout=5_000)
        assert await console.inner_text("#timeline .msg-customer .text") == "ciao"
        await console.click("#claim")
        await console.wait_for_selector("#conv-status[data-status='with_consultant']", timeout=5_000)

        await console.fill("#reply-text", "Ciao, sono Giulia!")
        typing = shopper.locator(".vetrina-typing.vetrina-typing-person")  # issue 13, item 9
        await typing.wait_for(timeout=5_000)
        assert (await typing.inner_text()).strip() == "Giulia sta scrivendo\u2026"
        await console.click("#reply-send")
        consultant_bubble = shopper.locator("#vetrina-messages .vetrina-msg-consultant")
        await consultant_bubble.first.wait_for(timeout=5_000)
        assert "Ciao, sono Giulia!" in await consultant_bubble.first.inner_text()

        calls = len(running.assistant.calls)
        bot_count = await bot.count()
        await console.evaluate("window.__xss = false")
        payload = '<img src=x onerror="window.__xss=true"><script>window.__xss=true</script> 42?'
        await shopper.fill("#vetrina-input", payload)
        await shopper.click("#vetrina-send")
        assert await shopper.locator(".vetrina-typing").count() == 0  # no bot dots: a person has it
        shown = console.locator("#timeline .msg-customer .text", has_text="42?")
        await shown.first.wait_for(timeout=2_000)  # within a second or two of arriving
        assert await shown.first.inner_text() == payload
        assert await console.locator("#timeline img, #timeline script").count() == 0
        assert await console.evaluate("window.__xss") is False
        await asyncio.sleep(1.5)
        assert len(running.assistant.calls) == calls and await bot.count() == bot_count
        await console.screenshot(path=str(tmp_path / "console.png"))

        await console.click("#hand-back")
        await console.wait_for_selector("#conv-status[data-status='bot']", timeout=5_000)
        await bot.nth(bot_count).wait_for(timeout=5_000)
        assert "assistente automatico" in await bot.nth(bot_count).inner_text()
        await shopper.fill("#vetrina-input", "e adesso?")
        await shopper.click("#vetrina-send")
        await bot.nth(bot_count + 1).wait_for(timeout=5_000)
        assert "echo: e adesso?" in await bot.nth(bot_count + 1).inner_text()
    finally:
        await consultant_context.close()
        await shopper_context.close()


async def test_the_console_page_needs_a_login(browser: Any, running: Running) -> None:  # noqa: F811
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(running.url + "/console")
        assert page.url.endswith("/console/login")
        await page.goto(running.url + "/console/stores/MI/bookings")
        assert page.url.endswith("/console/login")
    finally:
        await context.close()
