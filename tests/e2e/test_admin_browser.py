"""The console's administration in headless Chromium (issue 13, item 8):

- an admin deactivates a consultant who has the console open: her console goes to the
  login page by itself, at once, without her doing anything;
- an admin creates a consultant, who chooses her password with the one-time link;
- the store switches and hours are set from the page and recorded in the change log;
- axe-core finds no violation on the administration page (Italian and English, with the
  one-time link shown and the edit form open) nor on the reset page;
- the header's language switch is saved on the account: another browser gets it.

The gateway runs with a fake assistant (no Rasa), like test_console_layout.py."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select

from tests.e2e.axe import axe_source, violations
from tests.e2e.test_console_layout import PASSWORD, Served, served  # noqa: F401 (fixture)
from tests.e2e.test_widget_browser import browser  # noqa: F401 (session fixture)
from vetrina.catalog.models import Store
from vetrina.conversations.consultants import Role, create_consultant
from vetrina.conversations.duty_hours import store_hours
from vetrina.storage.audit import recent

pytestmark = pytest.mark.e2e


async def _login(browser: Any, served: Served, email: str, password: str = PASSWORD,  # noqa: F811
                 locale: str = "it-IT", path: str = "/console") -> tuple[Any, Any]:
    context = await browser.new_context(
        viewport={"width": 1440, "height": 900}, locale=locale, bypass_csp=True
    )
    page = await context.new_page()
    await page.goto(served.url + "/console/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("#login")
    await page.wait_for_selector("#live[data-state='online']", timeout=15_000)
    if path != "/console":
        await page.goto(served.url + path)
    return context, page


async def test_admin_deactivates_a_consultant_who_is_logged_out_at_once(
    browser: Any, served: Served  # noqa: F811
) -> None:
    axe_source()
    await create_consultant(served.db, "ada@example.com", "Ada", PASSWORD, role=Role.ADMIN)
    mara_context, mara = await _login(browser, served, "mara@example.com")
    ada_context, ada = await _login(browser, served, "ada@example.com", path="/console/admin")
    try:
        await ada.wait_for_selector("body[data-admin='ready']")
        assert await violations(ada) == []
        row = ada.locator("#consultants tr", has_text="mara@example.com")
        ada.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        clicked = time.monotonic()
        await row.locator("button.deactivate").click()
        # Mara does nothing: her console is sent to the login page by the server.
        await mara.wait_for_url("**/console/login", timeout=10_000)
        took = time.monotonic() - clicked
        assert took < 5, took
        await row.locator(".pill.off").wait_for()
        assert "disattivato" in (await ada.inner_text("#admin-message")).lower()
        # And she cannot sign in again.
        await mara.fill("#email", "mara@example.com")
        await mara.fill("#password", PASSWORD)
        await mara.click("#login")
        await mara.wait_for_selector("#login-message:has-text('errate')")
        log = await recent(served.db)
        assert log[0].action == "consultant.deactivate" and "ada@example.com" in log[0].actor
        await ada.reload()
        await ada.wait_for_selector("#audit tbody tr >> text=consulente disattivato")
        assert await violations(ada) == []
    finally:
        await mara_context.close()
        await ada_context.close()


async def test_admin_page_creates_edits_and_switches_stores_with_no_axe_violation(
    browser: Any, served: Served  # noqa: F811
) -> None:
    axe_source()
    await create_consultant(served.db, "ada@example.com", "Ada", PASSWORD, role=Role.ADMIN)
    context, ada = await _login(browser, served, "ada@example.com", path="/console/admin")
    try:
        await ada.wait_for_selector("body[data-admin='ready']")
        # A new consultant for Milan: no password typed, a one-time link instead.
        await ada.fill("#c-name", "Nina")
        await ada.fill("#c-email", "nina@example.com")
        await ada.check("#c-stores input[value='MI']")
        await ada.click("#consultant-save")
        await ada.wait_for_selector("#reset-box:not([hidden])")
        link = await ada.input_value("#reset-link")
        assert "/console/login/reset?code=" in link
        assert await violations(ada) == []

        # Edit: Nina also serves Rome.
        row = ada.locator("#consultants tr", has_text="nina@example.com")
        await row.locator("button.edit").click()
        assert await ada.input_value("#c-name") == "Nina"
        await ada.check("#c-stores input[value='RM']")
        assert await violations(ada) == []
        await ada.click("#consultant-save")
        await row.locator("td", has_text="MI, RM").wait_for()

        # Stores: Rome closed, Milan's try-on off, Milan's own consultant hours.
        ready = "body[data-admin='ready']"
        rome = ada.locator("#stores tr[data-store='RM']")
        await rome.locator("input[data-field='temporarily_closed']").check()
        await ada.wait_for_selector(ready)
        assert "Vetrina Roma" in await ada.inner_text("#admin-message")
        milan = ada.locator("#stores tr[data-store='MI']")
        await milan.locator("input[data-field='try_on_enabled']").uncheck()
        await ada.wait_for_selector(ready)
        assert not await milan.locator("input[data-field='try_on_enabled']").is_checked()
        await milan.locator(".hours-input").fill("sempre aperti")
        await milan.locator("button.save-hours").click()
        await ada.wait_for_selector(ready)
        assert "cannot read consultant hours" in await ada.inner_text("#admin-message")
        await milan.locator(".hours-input").fill("mon-sat 10:00-19:00")
        await milan.locator("button.save-hours").click()
        await ada.wait_for_selector(ready)
        await milan.locator("button.clear-hours").wait_for()
        async with served.db.sessions() as session:
            rows = {s.code: s for s in (await session.scalars(select(Store))).all()}
        assert rows["RM"].temporarily_closed and not rows["MI"].try_on_enabled
        assert await store_hours(served.db) == {"MI": "mon-sat 10:00-19:00"}
        await ada.wait_for_selector("#audit tbody tr >> text=orari dei consulenti")
        assert await violations(ada) == []

        # English: the switch in the console saves the language on the account.
        await ada.goto(served.url + "/console")
        await ada.wait_for_selector("#live[data-state='online']")
        await ada.click("#prefs summary")
        await ada.select_option("#lang", "en")
        await ada.wait_for_function("document.documentElement.lang === 'en'")
        for _ in range(50):
            async with served.db.sessions() as session:
                from vetrina.conversations.consultants import Consultant

                saved = await session.scalar(
                    select(Consultant.language).where(Consultant.email == "ada@example.com"))
            if saved == "en":
                break
            await asyncio.sleep(0.1)
        assert saved == "en"
        await ada.goto(served.url + "/console/admin")
        await ada.wait_for_selector("body[data-admin='ready']")
        assert await ada.inner_text("h1") == "Administration"
        assert await violations(ada) == []
    finally:
        await context.close()

    # Another browser, Italian by its locale and with no stored choice: the account's
    # English wins once signed in.
    context, again = await _login(browser, served, "ada@example.com", locale="it-IT")
    try:
        await again.wait_for_function("document.documentElement.lang === 'en'")
        assert await again.inner_text("#admin-link") == "Administration"
    finally:
        await context.close()

    # Nina chooses her password with the link, then signs in.
    context = await browser.new_context(viewport={"width": 1024, "height": 768},
                                        locale="it-IT", bypass_csp=True)
    page = await context.new_page()
    try:
        await page.goto(link)
        assert await violations(page) == []
        await page.fill("#password", "nina sceglie la sua")
        await page.fill("#password2", "nina sceglie la sua")
        await page.click("#reset")
        await page.wait_for_url("**/console/login?reset=1")
        assert "Password salvata" in await page.inner_text("#login-message")
        await page.fill("#email", "nina@example.com")
        await page.fill("#password", "nina sceglie la sua")
        await page.click("#login")
        await page.wait_for_selector("#live[data-state='online']")
        assert await page.locator("#admin-link").is_hidden()
        await page.goto(link)  # used once: refused
        await page.fill("#password", "ancora un'altra")
        await page.fill("#password2", "ancora un'altra")
        await page.click("#reset")
        await page.wait_for_selector("#reset-message:has-text('non valido')")
    finally:
        await context.close()
