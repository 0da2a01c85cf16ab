"""The console as a store's daily tool, in headless Chromium (issue 13): it fits a tablet
without scrolling the page and sticks to the newest message, shows nothing that acts on a
conversation before one is picked, sends with Enter, speaks one language, counts unread
conversations in the tab title, works one pane at a time on a phone, and has a styled day
sheet with date navigation. axe-core finds no violation on the console, the login page and
the day sheet.

The gateway runs with a fake assistant (no Rasa), like test_console_browser.py."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from tests.bookings.conftest import PRODUCTS, STORES, add_customers, set_stock
from tests.conftest import free_port
from tests.console.fakes import FakeTracker
from tests.e2e.axe import axe_source, violations
from tests.e2e.test_widget_browser import browser  # noqa: F401 (session fixture)
from tests.fakes import FakeAssistant
from vetrina.catalog.writing import write_catalog, write_stores
from vetrina.conversations import handoff
from vetrina.conversations.consultants import create_consultant
from vetrina.conversations.handoff import CUSTOMER, HandoffOptions, Reason
from vetrina.conversations.inbox import InboundMessage
from vetrina.conversations.models import Message
from vetrina.conversations.routing import ConsultantHours
from vetrina.gateway.app import SERVICES, init_app
from vetrina.gateway.keys import CONSOLE
from vetrina.settings import Settings
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

pytestmark = pytest.mark.e2e
PASSWORD = "layout console password"
ROOT = Path(__file__).resolve().parents[2]
ACTING = ("#claim", "#hand-back", "#close", "#transfer", "#transfer-to", "#reply-text",
          "#reply-send")


@dataclass
class Served:
    url: str
    app: web.Application
    db: Database
    alice: str


@pytest_asyncio.fixture
async def served(sqlite_db: Database) -> AsyncIterator[Served]:
    db = sqlite_db
    async with db.transaction() as session:
        await write_stores(session, STORES)
        await write_catalog(session, PRODUCTS)
    for sku in ("BOOT-NER-40", "BOOT-NER-41", "BOOT-NER-42"):
        await set_stock(db, "MI", sku, 5)
    (alice,) = await add_customers(db, 1)
    port = free_port()
    settings = Settings(
        database_url=db.url, port=port, worker_poll_interval=0.2, consultant_hours="",
        rasa_url="http://127.0.0.1:9", delayed_notice_after=30,
    )
    app = init_app(settings, assistant=FakeAssistant(), assistant_tracker=FakeTracker())
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await create_consultant(db, "mara@example.com", "Mara", PASSWORD, stores=["MI"])
    try:
        yield Served(f"http://127.0.0.1:{port}", app, db, alice)
    finally:
        await runner.cleanup()


async def _writes(
    served: Served, text: str, channel: str, external_id: str, name: str | None = None
) -> str:
    """A customer's message, stored and answered by the (fake) assistant: the customer."""
    services = served.app[SERVICES]
    received = await services.inbox.receive(
        InboundMessage(channel=channel, external_id=external_id, text=text, display_name=name)
    )
    services.processor.wake()
    for _ in range(200):
        async with served.db.sessions() as session:
            row = await session.get(Message, received.message_id)
            if row is not None and row.status == "processed":
                return row.customer_id
        await asyncio.sleep(0.05)
    raise AssertionError(f"message {received.message_id} not processed")


async def _waiting(
    served: Served, texts: list[str], channel: str = "whatsapp",
    external_id: str = "+393471234567", name: str | None = None,
) -> int:
    """A conversation of ``texts`` (each answered by the assistant) waiting in MI's queue."""
    customer_id = ""
    for text in texts:
        customer_id = await _writes(served, text, channel, external_id, name)
    outcome = await handoff.request_consultant(
        served.db, customer_id, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER,
        options=HandoffOptions(ConsultantHours.parse("")), store_hint="MI",
    )
    await served.app[CONSOLE].desk.after_bot_turn(customer_id)
    return outcome.conversation_id


async def _customer_says(
    served: Served, text: str, external_id: str = "+393471234567", channel: str = "whatsapp"
) -> None:
    """A message of a customer whose conversation a consultant holds (no assistant turn)."""
    services = served.app[SERVICES]
    await services.inbox.receive(
        InboundMessage(channel=channel, external_id=external_id, text=text)
    )
    services.processor.wake()


async def _console(
    browser: Any, served: Served, width: int, height: int, locale: str = "it-IT",  # noqa: F811
) -> tuple[Any, Any]:
    context = await browser.new_context(
        viewport={"width": width, "height": height}, locale=locale
    )
    page = await context.new_page()
    await page.goto(served.url + "/console/login")
    await page.fill("#email", "mara@example.com")
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await page.wait_for_selector("#live[data-state='online']", timeout=15_000)
    return context, page


async def _acting_controls_visible(page: Any) -> list[str]:
    return [selector for selector in ACTING if await page.locator(selector).is_visible()]


async def _inside_viewport(page: Any, selector: str) -> bool:
    return bool(await page.eval_on_selector(selector, """node => {
        const r = node.getBoundingClientRect();
        return r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight
            && r.right <= window.innerWidth && r.height > 0;
    }"""))


async def _page_scrolls(page: Any) -> bool:
    return bool(await page.evaluate(
        "document.scrollingElement.scrollHeight > window.innerHeight + 1"
        " || document.scrollingElement.scrollWidth > window.innerWidth + 1"
    ))


@pytest.mark.parametrize("width,height", [(1024, 768), (768, 1024)], ids=["landscape", "portrait"])
async def test_tablet_fits_the_viewport_and_follows_the_newest_message(
    browser: Any, served: Served, width: int, height: int  # noqa: F811
) -> None:
    context, page = await _console(browser, served, width, height)
    try:
        assert await _acting_controls_visible(page) == []  # nothing picked yet
        assert await page.locator("#no-conversation").is_visible()
        texts = [f"messaggio numero {n}" for n in range(14)]
        await _waiting(served, texts)
        item = page.locator("#queue .queue-item").first
        await item.wait_for(timeout=5_000)
        label = await item.inner_text()
        assert "+39 ••• ••• 4567" in label and "Chiede una persona" in label
        assert "In attesa da meno di un minuto" in label and "WhatsApp" in label
        assert "customer_asked" not in label and "/" not in label
        assert await page.title() == "(1) Vetrina — Console"
        assert await _acting_controls_visible(page) == []

        await item.click()
        await page.wait_for_selector("#timeline .msg-customer >> text='messaggio numero 13'")
        await page.click("#claim")
        await page.wait_for_selector("#conv-status[data-status='with_consultant']")
        assert await page.inner_text("#conv-status") == "Con te"
        await page.wait_for_selector("#reply-text:enabled")
        assert not await _page_scrolls(page)
        assert await _inside_viewport(page, "#reply-text")
        assert await _inside_viewport(page, "#reply-send")
        assert await _inside_viewport(page, "#timeline .msg:last-child")
        overflowing = await page.eval_on_selector(
            "#timeline", "t => t.scrollHeight > t.clientHeight"
        )
        assert overflowing  # only the timeline scrolls, and it is at its newest message

        await _customer_says(served, "sei ancora lì?")
        await page.wait_for_selector("#timeline .msg-customer >> text='sei ancora lì?'")
        await page.wait_for_timeout(100)
        assert await _inside_viewport(page, "#timeline .msg:last-child")
        assert not await _page_scrolls(page)

        # Scrolled up to read: a new message does not pull the timeline down.
        await page.eval_on_selector("#timeline", "t => { t.scrollTop = 0; }")
        await page.wait_for_timeout(100)
        await _customer_says(served, "ultima domanda")
        await page.wait_for_selector("#timeline .msg-customer >> text='ultima domanda'")
        assert await page.eval_on_selector("#timeline", "t => t.scrollTop") < 50
        await page.wait_for_selector("#jump-newest", state="visible")
        await page.click("#jump-newest")
        await page.wait_for_timeout(100)
        assert await _inside_viewport(page, "#timeline .msg:last-child")
        assert await page.locator("#jump-newest").is_hidden()
    finally:
        await context.close()


async def test_enter_sends_and_shift_enter_adds_a_line(
    browser: Any, served: Served  # noqa: F811
) -> None:
    context, page = await _console(browser, served, 1440, 900)
    try:
        await _waiting(served, ["ciao"], channel="web", external_id="sess-layout-0001")
        await page.click("#queue .queue-item")
        await page.click("#claim")
        await page.wait_for_selector("#reply-text:enabled")
        await page.click("#reply-text")
        await page.keyboard.type("riga uno")
        await page.keyboard.press("Shift+Enter")
        await page.keyboard.type("riga due")
        assert await page.input_value("#reply-text") == "riga uno\nriga due"
        await page.keyboard.press("Enter")
        sent = page.locator("#timeline .msg-consultant .text")
        await sent.first.wait_for(timeout=5_000)
        assert await sent.first.inner_text() == "riga uno\nriga due"
        assert await page.input_value("#reply-text") == ""
        assert "Mara" in await page.inner_text("#timeline .msg-consultant .meta")
        # the day sheet of the conversation's store is one click away
        assert await page.get_attribute("#sheet-link", "href") == "/console/stores/MI/bookings"
        assert await _inside_viewport(page, "#reply-text")
        assert not await _page_scrolls(page)
    finally:
        await context.close()


async def test_one_language_chosen_in_the_header_and_remembered(
    browser: Any, served: Served  # noqa: F811
) -> None:
    await _waiting(served, ["hello"], channel="web", external_id="sess-layout-0002")
    context, page = await _console(browser, served, 1280, 800, locale="en-GB")
    try:
        item = page.locator("#queue .queue-item").first
        await item.wait_for(timeout=5_000)
        assert await page.inner_text("#queue-title [data-i18n]") == "Waiting"
        text = await item.inner_text()
        assert "Asked for a person" in text and "Web" in text and "Store MI" in text
        await item.click()
        await page.wait_for_selector("#claim:visible")
        assert await page.inner_text("#claim") == "Claim"
        assert await page.get_attribute("html", "lang") == "en"
        body = await page.inner_text("body")
        for slashed in ("In attesa / Waiting", "Claim /", "/ Claim", "Esci /"):
            assert slashed not in body

        await page.click("#prefs summary")
        await page.select_option("#lang", "it")
        assert await page.inner_text("#claim") == "Prendi in carico"
        assert "Chiede una persona" in await item.inner_text()
        await page.reload()
        await page.wait_for_selector("#live[data-state='online']")
        assert await page.get_attribute("html", "lang") == "it"
        assert await page.inner_text("#queue-title [data-i18n]") == "In attesa"

        # the login page follows the same choice (a cookie), whatever the browser says
        await page.click("#logout")
        await page.wait_for_url("**/console/login")
        assert await page.inner_text("#login") == "Entra"
    finally:
        await context.close()


# Chromium headless shows no desktop notification: this stand-in records them.
FAKE_NOTIFICATION = """
window.__notices = [];
window.Notification = class {
  constructor(title, options) { window.__notices.push({title, body: options && options.body}); }
  close() {}
  static requestPermission() { return Promise.resolve('granted'); }
};
window.Notification.permission = 'granted';
"""


async def _title_is(page: Any, title: str) -> None:
    await page.wait_for_function(
        "title => document.title === title", arg=title, timeout=5_000
    )


async def test_new_requests_and_messages_are_announced(
    browser: Any, served: Served  # noqa: F811
) -> None:
    context, page = await _console(browser, served, 1280, 800)
    try:
        await page.add_init_script(FAKE_NOTIFICATION)
        await page.reload()
        await page.wait_for_selector("#live[data-state='online']")
        await page.wait_for_selector("#queue .empty")
        assert await page.title() == "Vetrina — Console"
        await page.click("#prefs summary")
        await page.check("#notify-desktop")
        await page.click("#prefs summary")

        await _waiting(served, ["c'è qualcuno?"], channel="web", external_id="sess-layout-0003")
        await _title_is(page, "(1) Vetrina — Console")
        assert await page.get_attribute("body", "data-last-notice") == "Nuova richiesta in attesa"
        assert await page.get_attribute("body", "data-sounds") == "1"
        assert await page.inner_text("#queue-count") == "1"
        notices = await page.evaluate("() => window.__notices")
        assert [n["title"] for n in notices] == ["Nuova richiesta in attesa"]
        assert "Chiede una persona" in notices[0]["body"]
        await page.click("#queue .queue-item")
        await page.click("#claim")
        await _title_is(page, "Vetrina — Console")

        # A second chat of mine gets a message while the first is on screen.
        await _waiting(served, ["sono io"], channel="web", external_id="sess-layout-0007")
        await page.click("#queue .queue-item")
        await page.click("#claim")
        await page.wait_for_selector("#conv-status[data-status='with_consultant']")
        await page.click("#mine .mine-item >> nth=0")
        await page.wait_for_selector("#timeline .msg-customer >> text=\"c'è qualcuno?\"")
        await _customer_says(served, "ci sei?", "sess-layout-0007", "web")
        await _title_is(page, "(1) Vetrina — Console")
        assert await page.inner_text("#mine .mine-item >> nth=1 >> .count") == "1"
        notices = await page.evaluate("() => window.__notices")
        assert notices[-1]["title"].startswith("Nuovo messaggio da Visitatore web")
        assert notices[-1]["body"] == "ci sei?"
        await page.click("#mine .mine-item >> nth=1")
        await _title_is(page, "Vetrina — Console")

        # each announcement can be switched off
        await page.click("#prefs summary")
        await page.uncheck("#notify-sound")
        await page.uncheck("#notify-desktop")
        await page.uncheck("#notify-title")
        sounds = await page.get_attribute("body", "data-sounds")
        count = len(await page.evaluate("() => window.__notices"))
        await _waiting(served, ["e ora?"], channel="web", external_id="sess-layout-0008")
        await page.wait_for_selector("#queue .queue-item")
        assert await page.inner_text("#queue-count") == "1"
        assert await page.title() == "Vetrina — Console"
        assert await page.get_attribute("body", "data-sounds") == sounds
        assert len(await page.evaluate("() => window.__notices")) == count
    finally:
        await context.close()


async def test_a_phone_shows_one_pane_at_a_time(
    browser: Any, served: Served  # noqa: F811
) -> None:
    await _waiting(served, ["ciao dal telefono"], channel="web", external_id="sess-layout-0004")
    context, page = await _console(browser, served, 390, 844)
    try:
        item = page.locator("#queue .queue-item").first
        await item.wait_for(timeout=5_000)
        assert not await page.locator("#conversation").is_visible()
        assert await _acting_controls_visible(page) == []
        assert not await _page_scrolls(page)
        await item.click()
        await page.wait_for_selector("#timeline .msg-customer")
        assert not await page.locator("#side").is_visible()
        await page.click("#claim")
        await page.wait_for_selector("#reply-text:enabled")
        assert await _inside_viewport(page, "#reply-text")
        assert not await _page_scrolls(page)
        await page.click("#show-details")
        assert await page.locator("#profile").is_visible()
        assert not await page.locator("#timeline").is_visible()
        await page.click("#back-to-conversation")
        assert await page.locator("#timeline").is_visible()
        await page.click("#back-to-list")
        assert await page.locator("#queue").is_visible()
        assert not await page.locator("#timeline").is_visible()
    finally:
        await context.close()


async def _book(served: Served) -> str:
    day = (utcnow() + timedelta(days=3)).date()
    await served.app[CONSOLE].bookings.book(
        served.alice, "MI", day, "11:00", [("BOOT-NER-41", 1)], channel="web"
    )
    return day.isoformat()


async def test_the_day_sheet_is_styled_and_moves_between_days(
    browser: Any, served: Served  # noqa: F811
) -> None:
    day = await _book(served)
    context, page = await _console(browser, served, 1280, 800)
    try:
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await page.click("#store-links a")
        await page.wait_for_selector("h1")
        assert "/console/stores/MI/bookings" in page.url
        await page.goto(served.url + f"/console/stores/MI/bookings?date={day}")
        row = page.locator("tbody tr[data-booking]")
        assert await row.count() == 1
        text = await row.inner_text()
        assert "Cliente 0" in text and "Confermata" in text and "BOOT-NER-41" in text
        assert await row.locator("td.actions-col").count() == 1  # room for check-in & co.
        # the stylesheet applies (no inline style the CSP would block)
        assert await page.eval_on_selector(
            "table", "t => getComputedStyle(t).borderCollapse"
        ) == "collapse"
        assert not [e for e in errors if "Content Security Policy" in e]
        await page.click("#next-day")
        await page.wait_for_selector("tbody td[colspan]")
        assert "Nessuna prenotazione" in await page.inner_text("tbody")
        await page.click("#previous-day")
        await page.wait_for_selector("tbody tr[data-booking]")
    finally:
        await context.close()


def _folder(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("VETRINA_CONSOLE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder



async def test_axe_finds_no_violation_on_the_console_pages(
    browser: Any, served: Served  # noqa: F811
) -> None:
    axe_source()  # skipped (failed in CI) without axe-core
    day = await _book(served)
    await _waiting(served, ["ciao", "vorrei provare gli stivali"])
    # axe is injected as a script tag: the test context lets it past the page's CSP.
    context = await browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="it-IT", bypass_csp=True
    )
    page = await context.new_page()
    try:
        await page.goto(served.url + "/console/login")
        assert await violations(page) == []
        await page.fill("#email", "mara@example.com")
        await page.fill("#password", PASSWORD)
        await page.click("#login")
        await page.wait_for_selector("#live[data-state='online']", timeout=15_000)
        await page.locator("#queue .queue-item").first.wait_for(timeout=5_000)
        assert await violations(page) == []  # nothing picked
        await page.click("#queue .queue-item")
        await page.click("#claim")
        await page.wait_for_selector("#reply-text:enabled")
        await page.wait_for_selector("#transfer-to:visible")
        assert await violations(page) == []  # a conversation of mine, all its tools shown
        await page.goto(served.url + f"/console/stores/MI/bookings?date={day}")
        assert await violations(page) == []
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.goto(served.url + "/console")
        await page.wait_for_selector("#live[data-state='online']", timeout=15_000)
        assert await violations(page) == []  # the phone layout
    finally:
        await context.close()


async def test_screenshots_of_the_main_views(
    browser: Any, served: Served, tmp_path: Path  # noqa: F811
) -> None:
    """The console and the day sheet at 1440×900 and 1024×768. The README's pictures are
    these: ``VETRINA_CONSOLE_SCREENSHOTS=docs/console pytest -k screenshots`` writes them
    there (else into a temporary folder)."""
    folder = _folder(tmp_path)
    day = await _book(served)
    await _waiting(served, [
        "Buongiorno, avete lo stivale Brera nero in 41?",
        "Vorrei provarlo sabato a Milano",
        "Posso parlare con una commessa?",
    ], channel="web", external_id="sess-layout-0005", name="Giulia Rossi")
    await _waiting(served, ["il mio ordine non è arrivato"])  # WhatsApp
    await _waiting(served, ["hi, is the boot true to size?"], channel="web",
                   external_id="sess-layout-0006")
    for width, height in ((1440, 900), (1024, 768)):
        context, page = await _console(browser, served, width, height)
        try:
            await page.locator("#queue .queue-item").nth(1).wait_for(timeout=5_000)
            if width == 1440:
                await page.click("#queue .queue-item >> nth=0")
                await page.click("#claim")
            else:
                await page.click("#mine .mine-item >> nth=0")
            await page.wait_for_selector("#reply-text:enabled")
            await page.click("#reply-text")
            await page.keyboard.type(
                "Buongiorno! Sì, il 41 nero è disponibile a Milano." if width == 1440
                else "Vuole che glielo tenga da parte per sabato?"
            )
            await page.keyboard.press("Enter")
            await page.locator("#timeline .msg-consultant").first.wait_for(timeout=5_000)
            await page.wait_for_timeout(300)
            await page.screenshot(path=str(folder / f"console-{width}x{height}.png"))
            await page.goto(served.url + f"/console/stores/MI/bookings?date={day}")
            await page.screenshot(path=str(folder / f"day-sheet-{width}x{height}.png"))
        finally:
            await context.close()
    context, page = await _console(browser, served, 390, 844)  # a phone: list, then chat
    try:
        await page.locator("#queue .queue-item").nth(1).wait_for(timeout=5_000)
        await page.screenshot(path=str(folder / "console-390x844-list.png"))
        await page.click("#mine .mine-item >> nth=0")
        await page.wait_for_selector("#reply-text:enabled")
        await page.wait_for_timeout(300)
        await page.screenshot(path=str(folder / "console-390x844-chat.png"))
        await page.click("#prefs summary")  # the settings open inside the screen
        assert await _inside_viewport(page, "#prefs .prefs-body")
        assert not await _page_scrolls(page)
    finally:
        await context.close()
