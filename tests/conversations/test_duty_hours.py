"""Consultant hours per store (issue 13, item 8): a handoff request waits for its store's
own timetable (else the global one), and the widget's header counts every timetable."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.bookings.conftest import Shop, shop  # noqa: F401 (fixture)
from vetrina.conversations import handoff
from vetrina.conversations.consultants import (
    Presence,
    create_consultant,
    set_presence,
)
from vetrina.conversations.duty_hours import set_store_hours, store_hours
from vetrina.conversations.handoff import CUSTOMER, HandoffOptions, Reason
from vetrina.conversations.routing import ConsultantHours
from vetrina.hours import HoursError
from vetrina.storage.audit import recent

ROME = ZoneInfo("Europe/Rome")
GLOBAL = ConsultantHours.parse("mon-fri 09:00-18:00", "Europe/Rome")
SATURDAY_11 = datetime(2026, 12, 5, 11, 0, tzinfo=ROME)


async def test_a_request_follows_its_stores_hours_else_the_global_ones(
    shop: Shop,  # noqa: F811
) -> None:
    await set_store_hours(shop.db, "MI", "sat 10:00-13:00", "Europe/Rome", actor="test")
    options = HandoffOptions(GLOBAL)
    milan = await handoff.request_consultant(
        shop.db, shop.alice, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER, options=options,
        store_hint="MI", now=SATURDAY_11,
    )
    assert milan.store_code == "MI" and milan.open_now  # Milan's own Saturday hours
    assert milan.timezone == "Europe/Rome" and milan.answer_by is not None
    assert f"{milan.answer_by.astimezone(ROME):%H:%M}" == "13:00"
    rome = await handoff.request_consultant(
        shop.db, shop.bob, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER, options=options,
        store_hint="RM", now=SATURDAY_11,
    )
    assert rome.store_code == "RM" and not rome.open_now  # the global hours: closed
    assert rome.answer_from is not None and f"{rome.answer_from.astimezone(ROME):%a %H:%M}" == (
        "Mon 09:00"
    )


async def test_the_header_is_on_duty_when_any_timetable_is_open_with_someone_online(
    shop: Shop,  # noqa: F811
) -> None:
    mara = await create_consultant(shop.db, "mara@example.com", "Mara", "x" * 12, stores=["MI"])
    assert (await handoff.on_duty(shop.db, GLOBAL, now=SATURDAY_11)).back_at is not None
    await set_store_hours(shop.db, "MI", "sat 10:00-13:00", "Europe/Rome", actor="test")
    duty = await handoff.on_duty(shop.db, GLOBAL, now=SATURDAY_11)
    assert duty == handoff.OnDuty(False, None)  # Milan is open, but nobody is online
    await set_presence(shop.db, mara.id, Presence.ONLINE, now=SATURDAY_11)
    assert (await handoff.on_duty(shop.db, GLOBAL, now=SATURDAY_11)).on_duty
    # Saturday evening: every timetable closed, back at the earliest opening (Monday 9).
    evening = datetime(2026, 12, 5, 19, 0, tzinfo=ROME)
    await set_presence(shop.db, mara.id, Presence.ONLINE, now=evening)
    late = await handoff.on_duty(shop.db, GLOBAL, now=evening)
    assert not late.on_duty and late.back_at is not None
    assert f"{late.back_at:%a %H:%M}" == "Mon 09:00"


async def test_hours_are_checked_saved_cleared_and_recorded(shop: Shop) -> None:  # noqa: F811
    for bad in ("", "  ", "sempre", "mon 18:00-09:00", "xyz 09:00-10:00", "mon 09:00-10:00" * 20):
        with pytest.raises(HoursError):
            await set_store_hours(shop.db, "MI", bad, "Europe/Rome", actor="test")
    with pytest.raises(HoursError):
        await set_store_hours(shop.db, "MI", "mon 09:00-10:00", "Mars/Olympus", actor="test")
    assert await store_hours(shop.db) == {}
    assert await recent(shop.db) == []
    await set_store_hours(shop.db, "MI", "MON-FRI  09:00-13:00", "Europe/Rome", actor="ada")
    await set_store_hours(shop.db, "MI", "MON-FRI 09:00-13:00", "Europe/Rome", actor="ada")
    assert await store_hours(shop.db) == {"MI": "MON-FRI 09:00-13:00"}
    await set_store_hours(shop.db, "MI", None, "Europe/Rome", actor="ada")
    assert await store_hours(shop.db) == {}
    log = await recent(shop.db)
    assert [(e.action, e.details["after"]) for e in log] == [
        ("store.consultant_hours", None), ("store.consultant_hours", "MON-FRI 09:00-13:00"),
    ]
