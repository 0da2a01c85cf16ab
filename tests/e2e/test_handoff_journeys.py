"""Whole stack (real Rasa, action server, gateway): a shopper asks for a person, a
consultant takes over from the console, the assistant stays silent, and comes back.

- In two headless Chromium pages at once: the shopper in the web widget, the consultant
  in /console (live queue, claim, reply, XSS shown as text, hand back).
- The same journey for a WhatsApp customer through the fake Twilio server, with the
  console driven over HTTP and its websocket.
- One request in natural words ("vorrei parlare con un consulente"), which needs the
  trained ``request_consultant`` intent.

The other requests use the intent payload ``/request_consultant`` as the message text (a
button-like trigger that Rasa parses directly), so they do not depend on the NLU.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from channels.web.session_ids import SessionIds
from tests.e2e.test_widget_browser import browser  # noqa: F401 (session fixture)
from tests.stack_fixtures import Gateway
from vetrina.conversations import handoff
from vetrina.conversations.consultants import create_consultant

pytestmark = pytest.mark.e2e

PASSWORD = "e2e console password"


async def _consultant(gateway: Gateway) -> str:
    email = f"c-{uuid.uuid4().hex[:8]}@example.com"
    await create_consultant(gateway.services.db, email, "Giulia", PASSWORD, stores=[])
    return email


async def _wait_state(gateway: Gateway, customer_id: str, status: str, timeout: float = 60) -> Any:
    for _ in range(int(timeout * 10)):
        state = await handoff.conversation_of_customer(gateway.services.db, customer_id)
        if state is not None and state.status == status:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"conversation of {customer_id} never became {status}")


@pytest_asyncio.fixture
async def console_page(browser, gateway: Gateway) -> AsyncIterator[Any]:  # noqa: F811
    email = await _consultant(gateway)
    context = await browser.new_context(locale="it-IT")
    page = await context.new_page()
    await page.goto(gateway.url + "/console")
    assert page.url.endswith("/console/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await page.wait_for_selector("#live[data-state='online']", timeout=15_000)
    yield page
    await context.close()


async def test_web_shopper_and_consultant_in_two_browser_pages(
    browser, gateway: Gateway, console_page: Any, tmp_path  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    shopper_context = await browser.new_context(locale="it-IT")
    shopper = await shopper_context.new_page()
    console = console_page
    try:
        await shopper.goto(gateway.url + "/")
        await shopper.click("#vetrina-launcher")
        await shopper.wait_for_selector("#vetrina-panel[data-state='online']", timeout=15_000)
        bot = shopper.locator("#vetrina-messages .vetrina-msg-bot:not(.vetrina-welcome)")
        consultant_bubbles = shopper.locator("#vetrina-messages .vetrina-msg-consultant")

        # 1. The shopper asks for a person; the bot says what happens next.
        await shopper.fill("#vetrina-input", "/request_consultant")
        await shopper.click("#vetrina-send")
        await bot.first.wait_for(timeout=60_000)
        answer = await bot.first.inner_text()
        assert "consulent" in answer.lower(), answer

        # 2. The request appears in the console's queue, live; the consultant claims it.
        item = console.locator("#queue .queue-item").first
        await item.wait_for(timeout=15_000)
        assert await item.locator(".channel").get_attribute("data-channel") == "web"
        await item.click()
        await console.click("#claim")
        await console.wait_for_selector("#conv-status[data-status='with_consultant']", timeout=10_000)

        # 3. The consultant replies; the shopper sees it in the widget, live.
        await console.fill("#reply-text", "Ciao, sono Giulia del negozio!")
        await console.click("#reply-send")
        await consultant_bubbles.first.wait_for(timeout=15_000)
        assert "Giulia del negozio" in await consultant_bubbles.first.inner_text()

        # 4. The shopper writes again (with markup): only the consultant sees it, as text.
        bot_count = await bot.count()
        await shopper.evaluate("window.__xss = false")
        await console.evaluate("window.__xss = false")
        payload = '<img src=x onerror="window.__xss=true"><script>window.__xss=true</script> taglia 42?'
        await shopper.fill("#vetrina-input", payload)
        await shopper.click("#vetrina-send")
        customer_msg = console.locator("#timeline .msg-customer .text", has_text="taglia 42?")
        await customer_msg.first.wait_for(timeout=10_000)
        assert await customer_msg.first.inner_text() == payload
        assert await console.locator("#timeline img").count() == 0
        assert await console.locator("#timeline script").count() == 0
        await asyncio.sleep(3)  # time enough for a bot reply, if there were one
        assert await bot.count() == bot_count
        assert await console.evaluate("window.__xss") is False
        assert await shopper.evaluate("window.__xss") is False
        await console.screenshot(path=str(tmp_path / "console.png"))

        # 5. Hand back: the bot says it is back and is automated; it answers again.
        await console.click("#hand-back")
        await console.wait_for_selector("#conv-status[data-status='bot']", timeout=10_000)
        await bot.nth(bot_count).wait_for(timeout=60_000)
        back = await bot.nth(bot_count).inner_text()
        assert "assistente automatico" in back, back
        await shopper.fill("#vetrina-input", "ciao")
        await shopper.click("#vetrina-send")
        await bot.nth(bot_count + 1).wait_for(timeout=60_000)
    finally:
        await shopper_context.close()


class ConsoleClient:
    """A consultant using the console's HTTP API and websocket (no browser)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def login(self, email: str) -> None:
        page = await (await self.http.get(self.base_url + "/console/login")).text()
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        response = await self.http.post(
            self.base_url + "/console/login",
            data={"csrf": token, "email": email, "password": PASSWORD}, allow_redirects=False,
        )
        assert response.status == 302
        self.csrf = (await (await self.http.get(self.base_url + "/console/api/me")).json())["csrf_token"]
        self.ws = await self.http.ws_connect(self.base_url + "/console/ws")

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.http.post(
            self.base_url + path, json=body or {}, headers={"X-CSRF-Token": self.csrf}
        )
        assert response.status == 200, await response.text()
        return await response.json()

    async def event(self, predicate: Any, timeout: float = 30) -> dict[str, Any]:
        assert self.ws is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            event = await self.ws.receive_json(timeout=max(left, 0.01))
            if predicate(event):
                return event

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.http.close()


async def test_whatsapp_customer_through_the_fake_twilio(gateway: Gateway) -> None:
    twilio = gateway.twilio
    assert twilio is not None
    number = "+39333" + str(uuid.uuid4().int)[:7]
    consultant = ConsoleClient(gateway.url)
    await consultant.login(await _consultant(gateway))
    try:
        async def write(text: str) -> None:
            status, _ = await twilio.deliver(
                f"{gateway.url}/webhooks/whatsapp", twilio.incoming(number, text, profile_name="Wanda")
            )
            assert status == 200

        async def new_messages(timeout: float = 60) -> list[str]:
            """The messages the customer receives from now on, once they stop coming."""
            before = len(twilio.sent_to(number))
            await twilio.wait_for(number, count=before + 1, timeout=timeout)
            await asyncio.sleep(1.0)
            return [m.body for m in twilio.sent_to(number)[before:]]

        await write("/request_consultant")
        answer = " ".join(await new_messages())
        assert "consulent" in answer.lower(), answer
        queued = await consultant.event(lambda e: e["topic"] == "queue" and e["status"] == "waiting")
        conversation_id = queued["conversation_id"]
        url = f"/console/api/conversations/{conversation_id}"
        claimed = asyncio.ensure_future(new_messages())  # "Giulia is with you now"
        state = (await consultant.post(url + "/claim"))["state"]
        assert state["channel"] == "whatsapp" and state["status"] == "with_consultant"
        assert "Giulia" in " ".join(await claimed)
        assert consultant.ws is not None
        await consultant.ws.send_json({"watch": conversation_id})

        replied = asyncio.ensure_future(new_messages())
        await consultant.post(url + "/messages", {"text": "Buongiorno Wanda, sono Giulia."})
        # Signed with the consultant's first name on WhatsApp (the README's "Who answers").
        assert await replied == ["Giulia: Buongiorno Wanda, sono Giulia."]

        before = len(twilio.sent_to(number))
        await write("avete il 38?")
        seen = await consultant.event(
            lambda e: e["topic"] == "conversation" and e.get("type") == "message"
            and e["message"]["text"] == "avete il 38?"
        )
        assert seen["message"]["channel"] == "whatsapp"
        await asyncio.sleep(3)  # time enough for a bot reply, if there were one
        assert len(twilio.sent_to(number)) == before  # Giulia has the chat: the bot is silent

        back = asyncio.ensure_future(new_messages())
        await consultant.post(url + "/hand-back")
        text = " ".join(await back)
        assert "assistente automatico" in text, text
        answered = asyncio.ensure_future(new_messages())
        await write("ciao")
        assert await answered
        await _wait_state(gateway, state["customer_id"], "bot")
    finally:
        await consultant.close()


async def test_asking_for_a_person_in_natural_words(gateway: Gateway) -> None:
    """Needs the trained NLU (intent request_consultant)."""
    from tests.chat_client import WebCustomer

    customer = await WebCustomer(gateway.url).connect()
    try:
        replies = await customer.say("vorrei parlare con un consulente")
        text = " ".join(r.get("text", "") for r in replies)
        assert "consulent" in text.lower(), text
        async with gateway.services.db.sessions() as session:
            from vetrina.customers.identities import find_customer_id

            customer_id = await find_customer_id(
                session, "web", SessionIds.public(customer.session_id or "")
            )
        assert customer_id is not None
        state = await _wait_state(gateway, customer_id, "waiting", timeout=5)
        assert state.reason == "customer_asked"
    finally:
        await customer.close()


async def test_two_misunderstandings_in_a_row_bring_a_person(gateway: Gateway) -> None:
    """Two messages the NLU does not understand (the same gibberish as the test stories):
    the nlu_fallback rule → action_not_understood, and the second time a person."""
    from tests.chat_client import WebCustomer
    from vetrina.customers.identities import find_customer_id

    customer = await WebCustomer(gateway.url).connect()
    try:
        first = " ".join(r.get("text", "") for r in await customer.say("qwfp arst zxcv"))
        async with gateway.services.db.sessions() as session:
            customer_id = await find_customer_id(
                session, "web", SessionIds.public(customer.session_id or "")
            )
        assert customer_id is not None
        state = await handoff.conversation_of_customer(gateway.services.db, customer_id)
        assert state is not None and state.status == "bot", first
        second = " ".join(r.get("text", "") for r in await customer.say("lkjh poiu"))
        # Gibberish has no language: the reply is in whichever the detector guessed.
        assert any(w in second.lower() for w in ("persona", "consulent", "person", "consultant")), second
        state = await _wait_state(gateway, customer_id, "waiting", timeout=5)
        assert state.reason == "not_understood"
    finally:
        await customer.close()
