"""Whole stack (the session's real Rasa, action server and gateway): an admin marks a
store temporarily closed in the console's administration page, in headless Chromium;
the assistant then no longer offers that store for a try-on (nor as another store to
book at) and says why, in Italian and in English. Reopened, it is offered again."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from tests.chat_client import WebCustomer, buttons, texts
from tests.e2e.axe import violations
from tests.e2e.test_widget_browser import browser  # noqa: F401 (session fixture)
from tests.integration.test_booking_chat import bookable_trench, trench_stock
from tests.stack_fixtures import Gateway
from vetrina.catalog.models import Store
from vetrina.catalog.store_status import set_temporarily_closed
from vetrina.conversations.consultants import Role, create_consultant
from vetrina.storage.audit import recent

pytestmark = pytest.mark.e2e
PASSWORD = "closure admin password"


async def _ask(gateway: Gateway, text: str) -> list[dict[str, Any]]:
    customer = await WebCustomer(gateway.url).connect()
    try:
        return list(await customer.say(text))
    finally:
        await customer.close()


def _store_buttons(replies: list[dict[str, Any]]) -> set[str]:
    return {b["title"] for b in buttons(replies) if b["payload"].startswith("/choose_store")}


async def test_a_closed_store_is_no_longer_offered_for_a_try_on(
    gateway: Gateway, browser: Any  # noqa: F811
) -> None:
    trench = await bookable_trench(gateway)
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    await create_consultant(gateway.services.db, email, "Ada", PASSWORD, role=Role.ADMIN)
    context = await browser.new_context(viewport={"width": 1440, "height": 900},
                                        locale="it-IT", bypass_csp=True)
    page = await context.new_page()
    try:
        await page.goto(gateway.url + "/console/login")
        await page.fill("#email", email)
        await page.fill("#password", PASSWORD)
        await page.click("#login")
        await page.wait_for_selector("#live[data-state='online']", timeout=15_000)
        await page.goto(gateway.url + "/console/admin")
        await page.wait_for_selector("body[data-admin='ready']")
        row = page.locator(f"#stores tr[data-store='{trench.store}']")
        await row.locator("input[data-field='temporarily_closed']").check()
        await page.wait_for_selector("body[data-admin='ready']")
        assert trench.name in await page.inner_text("#admin-message")
        assert await violations(page) == []
        async with gateway.services.db.sessions() as session:
            closed = await session.scalar(
                select(Store.temporarily_closed).where(Store.code == trench.store))
        assert closed is True
        entry = (await recent(gateway.services.db, target=f"store:{trench.store}"))[0]
        assert entry.action == "store.close" and email in entry.actor

        italian = await _ask(gateway, f"vorrei prenotare una prova del trench nero in M a "
                                      f"{trench.city}")
        answer = texts(italian)
        assert f"{trench.name} è temporaneamente chiuso" in answer, answer
        assert "tenerti da parte" in answer, answer
        assert trench.name not in _store_buttons(italian)

        english = await _ask(gateway, f"can I book a try-on of the black trench M in "
                                      f"{trench.city}?")
        answer = texts(english)
        assert f"{trench.name} is temporarily closed" in answer, answer
        offered = _store_buttons(english)
        others = {s.name for s in await trench_stock(gateway) if s.store != trench.store}
        assert trench.name not in offered and offered <= others, (offered, others)

        # Reopened from the same page: offered again.
        await row.locator("input[data-field='temporarily_closed']").uncheck()
        await page.wait_for_selector("body[data-admin='ready']")
        again = texts(await _ask(gateway, f"can I book a try-on of the black trench M in "
                                          f"{trench.city}?"))
        assert "temporarily closed" not in again, again
    finally:
        await context.close()
        await set_temporarily_closed(gateway.services.db, trench.store, False, actor="test")
