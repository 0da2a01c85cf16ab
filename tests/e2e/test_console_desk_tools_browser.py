"""The console's desk tools in headless Chromium (issue 13, items 4 and 5): an admin
writes a canned reply in the admin panel; a consultant inserts it by typing ``/`` and its
shortcut, adds a private note that the customer never gets, closes the conversation,
finds it again with the search and reopens it; ``?`` lists the keyboard shortcuts. axe-core
finds no violation in any of these states.

The gateway runs with a fake assistant (no Rasa), like test_console_layout.py."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.e2e.axe import axe_source, violations
from tests.e2e.test_console_layout import PASSWORD, Served, _waiting, served  # noqa: F401
from tests.e2e.test_widget_browser import browser  # noqa: F401 (session fixture)
from vetrina.conversations.consultants import Role, create_consultant
from vetrina.conversations.models import Message
from vetrina.conversations.notes import ConversationNote

pytestmark = pytest.mark.e2e
NOTE = "Cliente abituale, preferisce essere chiamata nel pomeriggio"
CANNED = "Il negozio di Milano è aperto dalle 10 alle 19."


async def _login(browser: Any, served: Served, email: str) -> tuple[Any, Any]:  # noqa: F811
    context = await browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="it-IT", bypass_csp=True
    )
    page = await context.new_page()
    await page.goto(served.url + "/console/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await page.wait_for_selector("#live[data-state='online']", timeout=15_000)
    return context, page


async def test_canned_reply_private_note_and_search_of_a_closed_conversation(
    browser: Any, served: Served  # noqa: F811
) -> None:
    axe_source()  # skip (or fail in CI) before doing anything without axe-core
    await create_consultant(served.db, "ada@example.com", "Ada", PASSWORD, role=Role.ADMIN)

    # The admin writes a canned reply for Milan, in Italian.
    context, page = await _login(browser, served, "ada@example.com")
    try:
        await page.wait_for_selector("#admin:not([hidden])")
        await page.fill("#canned-store", "MI")
        await page.select_option("#canned-language", "it")
        await page.fill("#canned-shortcut", "orari")
        await page.fill("#canned-name", "Orari di Milano")
        await page.fill("#canned-text", CANNED)
        await page.click("#canned-form button[type=submit]")
        await page.wait_for_selector("#canned-admin-list >> text=/orari")
        assert await page.inner_text("#canned-result") == "Risposta salvata"
        assert await violations(page) == []
    finally:
        await context.close()

    conversation_id = await _waiting(served, ["cerco gli stivali neri", "parlo con qualcuno?"])
    context, page = await _login(browser, served, "mara@example.com")
    try:
        await page.click("#queue .queue-item button")
        await page.wait_for_selector("#timeline .msg-customer >> text='cerco gli stivali neri'")
        await page.click("#claim")
        await page.wait_for_selector("#reply-text:enabled")

        # "/" + shortcut: a suggestion list, picked with the keyboard.
        await page.click("#reply-text")
        await page.keyboard.type("/ora")
        await page.wait_for_selector("#canned-suggest:not([hidden]) >> text=/orari")
        assert await page.get_attribute("#reply-text", "aria-activedescendant") == "canned-opt-0"
        assert await violations(page) == []
        await page.keyboard.press("Enter")
        assert await page.input_value("#reply-text") == CANNED
        assert await page.locator("#canned-suggest").is_hidden()
        await page.keyboard.press("Enter")  # now Enter sends it
        await page.wait_for_selector(f"#timeline .msg-consultant >> text='{CANNED}'")

        # A private note: in the timeline, styled apart, and in no message.
        await page.fill("#note-text", NOTE)
        await page.click("#note-add")
        note = page.locator("#timeline .msg-note")
        await note.wait_for()
        assert "Nota privata" in await note.inner_text() and NOTE in await note.inner_text()
        assert await violations(page) == []
        async with served.db.sessions() as session:
            texts = (await session.scalars(select(Message.text))).all()
            notes = (await session.scalars(select(ConversationNote.text))).all()
        assert CANNED in texts and all(NOTE not in t for t in texts)
        assert notes == [NOTE]

        # "?" lists the shortcuts.
        await page.click("#conv-title")
        await page.keyboard.press("?")
        await page.wait_for_selector("#help[open]")
        assert "Apri la prossima conversazione in attesa" in await page.inner_text("#help")
        assert await violations(page) == []
        await page.keyboard.press("Escape")
        await page.wait_for_selector("#help:not([open])", state="attached")

        # Closed, then found again by the search and reopened.
        await page.click("#close")
        await page.wait_for_selector("#conv-status[data-status='closed']")
        await page.fill("#search-q", "stivali")
        await page.click("#search-filters summary")
        await page.select_option("#search-status", "closed")
        await page.click("#search-go")
        result = page.locator(f"#search-results .search-item[data-conversation-id='{conversation_id}']")
        await result.wait_for()
        assert "Chiusa" in await result.inner_text()
        assert await violations(page) == []
        await page.reload()
        await page.wait_for_selector("#live[data-state='online']")
        await page.fill("#search-q", "stivali")
        await page.keyboard.press("Enter")
        await result.wait_for()
        await result.locator("button").click()
        await page.wait_for_selector("#conv-status[data-status='closed']")
        await page.wait_for_selector(f"#timeline .msg-note >> text='{NOTE}'")
        assert await page.locator("#reply-text").is_disabled()
        await page.wait_for_selector("#reopen:visible")
        assert await violations(page) == []
        await page.click("#reopen")
        await page.wait_for_selector("#conv-status[data-status='with_consultant']")
        await page.wait_for_selector("#reply-text:enabled")

        # Keyboard only: n opens the next waiting conversation, c claims it, h hands it back.
        other = await _waiting(served, ["buongiorno"], external_id="+393339876543")
        await page.wait_for_selector(f"#queue .queue-item[data-conversation-id='{other}']")
        await page.click("#conv-title")
        await page.keyboard.press("n")
        await page.wait_for_selector(f"body[data-selected='{other}']")
        await page.wait_for_selector("#conv-status[data-status='waiting']")
        await page.keyboard.press("c")
        await page.wait_for_selector("#conv-status[data-status='with_consultant']")
        await page.click("#conv-title")
        await page.keyboard.press("h")
        await page.wait_for_selector("#conv-status[data-status='bot']")
    finally:
        await context.close()
