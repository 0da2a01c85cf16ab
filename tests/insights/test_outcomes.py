"""Arrived / Completed / No-show / Undo at the store: holds, who and when, two clicks at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.bookings.conftest import NOW, SATURDAY, Shop, stock_of
from vetrina.bookings.models import Booking
from vetrina.bookings.outcomes import (
    BookingOutcomes,
    BookingUnknown,
    OutcomeConflict,
    OutcomeError,
    WrongStore,
)
from vetrina.customers.interactions import Interaction

SKU = "BOOT-NER-41"


async def booked(shop: Shop) -> str:
    view = await shop.bookings.book(
        shop.alice, "MI", SATURDAY, "10:30", [(SKU, 1)], channel="web", now=NOW
    )
    return view.code


async def status_of(shop: Shop, code: str) -> str:
    async with shop.db.sessions() as session:
        return str(await session.scalar(select(Booking.status).where(Booking.code == code)))


async def test_arrived_completed_and_undo_with_who_and_when(shop: Shop) -> None:
    code = await booked(shop)
    outcomes = BookingOutcomes(shop.db)
    assert await stock_of(shop.db, "MI", SKU) == (5, 1)
    arrived = await outcomes.check_in(
        code.lower(), actor="giulia@example.com", store="MI", now=NOW + timedelta(days=1)
    )
    assert (arrived.status, arrived.checked_in_by) == ("confirmed", "giulia@example.com")
    assert await stock_of(shop.db, "MI", SKU) == (5, 1)  # still held while trying on
    with pytest.raises(OutcomeConflict, match="checked in: undo that first"):
        await outcomes.no_show(code, actor="marco@example.com")
    done = await outcomes.complete(
        code, actor="giulia@example.com", now=NOW + timedelta(days=1, minutes=20)
    )
    assert done.status == "completed"
    assert await stock_of(shop.db, "MI", SKU) == (5, 0)
    undone = await outcomes.undo(
        code, actor="marco@example.com", now=NOW + timedelta(days=1, minutes=21)
    )
    assert (undone.status, undone.undid) == ("confirmed", "completed")
    assert await stock_of(shop.db, "MI", SKU) == (5, 1)  # held again
    again = await outcomes.undo(
        code, actor="marco@example.com", now=NOW + timedelta(days=1, minutes=22)
    )
    assert (again.undid, again.checked_in_at) == ("arrived", None)
    with pytest.raises(OutcomeConflict, match="no outcome to undo"):
        await outcomes.undo(code, actor="marco@example.com")
    assert [(e["action"], e["undoes"], e["actor"]) for e in await outcomes.history(code)] == [
        ("arrived", None, "giulia@example.com"),
        ("completed", None, "giulia@example.com"),
        ("undo", "completed", "marco@example.com"),
        ("undo", "arrived", "marco@example.com"),
    ]
    async with shop.db.sessions() as session:
        kinds = (
            await session.scalars(
                select(Interaction.kind)
                .where(Interaction.customer_id == shop.alice)
                .order_by(Interaction.id)
            )
        ).all()
    assert kinds[-4:] == [
        "booking_arrived",
        "booking_completed",
        "booking_outcome_undone",
        "booking_outcome_undone",
    ]


async def test_no_show_by_hand_and_its_undo(shop: Shop) -> None:
    code = await booked(shop)
    outcomes = BookingOutcomes(shop.db)
    await outcomes.no_show(code, actor="giulia@example.com")
    assert (await status_of(shop, code), await stock_of(shop.db, "MI", SKU)) == ("no_show", (5, 0))
    await outcomes.undo(code, actor="giulia@example.com")
    assert (await status_of(shop, code), await stock_of(shop.db, "MI", SKU)) == (
        "confirmed",
        (5, 1),
    )


async def test_unknown_wrong_store_and_cancelled(shop: Shop) -> None:
    code = await booked(shop)
    outcomes = BookingOutcomes(shop.db)
    with pytest.raises(BookingUnknown):
        await outcomes.check_in("ZZZ99Z", actor="x")
    with pytest.raises(WrongStore, match="is for store MI, not RM"):
        await outcomes.check_in(code, actor="x", store="RM")
    await shop.bookings.cancel(shop.alice, code, channel="web", now=NOW)
    with pytest.raises(OutcomeConflict, match="is cancelled"):
        await outcomes.check_in(code, actor="x")
    with pytest.raises(OutcomeConflict, match="is cancelled"):
        await outcomes.complete(code, actor="x")
    assert await outcomes.history(code) == []


async def test_two_consultants_click_at_once(shop: Shop) -> None:
    """20 simultaneous clicks of each kind: exactly one wins, the holds move once."""
    code = await booked(shop)
    other = await shop.bookings.book(
        shop.bob, "MI", SATURDAY, "11:00", [(SKU, 1)], channel="web", now=NOW
    )
    assert await stock_of(shop.db, "MI", SKU) == (5, 2)  # one piece held by each booking
    outcomes = BookingOutcomes(shop.db)

    async def click(action: str, n: int, target: str = code) -> str:
        extra = {"undoes": "completed"} if action == "undo" else {}
        try:
            await getattr(outcomes, action)(target, actor=f"c{n}@example.com", **extra)
        except OutcomeError as error:
            return type(error).__name__
        return action

    async def race(*actions: str, target: str = code) -> Counter[str]:
        return Counter(
            await asyncio.gather(*(click(actions[n % len(actions)], n, target) for n in range(20)))
        )

    assert await race("check_in") == Counter({"check_in": 1, "OutcomeConflict": 19})
    assert await race("complete") == Counter({"complete": 1, "OutcomeConflict": 19})
    assert await stock_of(shop.db, "MI", SKU) == (5, 1)  # released once, not twenty times
    assert await race("undo") == Counter({"undo": 1, "OutcomeConflict": 19})
    assert await stock_of(shop.db, "MI", SKU) == (5, 2)
    # Completing and marking a no-show at once, on the booking nobody checked in.
    results = await race("complete", "no_show", target=other.code)
    assert sum(results[a] for a in ("complete", "no_show")) == 1
    assert results["OutcomeConflict"] == 19
    assert await stock_of(shop.db, "MI", SKU) == (5, 1)
    assert len(await outcomes.history(code)) == 3
    assert len(await outcomes.history(other.code)) == 1


async def test_the_sweep_never_releases_a_checked_in_booking(shop: Shop) -> None:
    code = await booked(shop)
    await BookingOutcomes(shop.db).check_in(code, actor="giulia@example.com")
    released = await shop.bookings.release_no_shows(now=NOW + timedelta(days=2))
    assert released == []
    assert await status_of(shop, code) == "confirmed"
    assert await stock_of(shop.db, "MI", SKU) == (5, 1)


async def test_the_sweep_still_releases_bookings_nobody_arrived_for(shop: Shop) -> None:
    code = await booked(shop)
    released = await shop.bookings.release_no_shows(now=NOW + timedelta(days=2))
    assert released == [code]
    assert await stock_of(shop.db, "MI", SKU) == (5, 0)


async def test_check_in_endpoint(shop: Shop) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from vetrina.gateway.api.insights import booking_routes
    from vetrina.gateway.http import errors

    code = await booked(shop)
    outcomes = BookingOutcomes(shop.db)
    app = web.Application(middlewares=[errors])
    app.router.add_routes(
        booking_routes(lambda _request: outcomes, checkin_token="till-token-123456")
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    auth = {"Authorization": "Bearer till-token-123456"}
    try:
        response = await client.post(
            f"/api/bookings/{code}/check-in", headers={"Authorization": "Bearer no"}
        )
        assert response.status == 401
        response = await client.post("/api/bookings/ZZZ99Z/check-in", headers=auth)
        assert (response.status, (await response.json())["error"]["code"]) == (
            404,
            "unknown_booking",
        )
        response = await client.post(
            f"/api/bookings/{code}/check-in", json={"store": "RM"}, headers=auth
        )
        assert (response.status, (await response.json())["error"]["code"]) == (422, "wrong_store")
        response = await client.post(
            f"/api/bookings/{code}/check-in", json={"store": "MI", "staff": "till-3"}, headers=auth
        )
        body = await response.json()
        assert (response.status, body["status"], body["checked_in_by"]) == (
            200,
            "confirmed",
            "till-3",
        )
        response = await client.post(f"/api/bookings/{code}/check-in", headers=auth)
        assert (response.status, (await response.json())["error"]["code"]) == (409, "conflict")
        await BookingOutcomes(shop.db).complete(code, actor="x")
        response = await client.post(f"/api/bookings/{code}/check-in", headers=auth)
        assert response.status == 409
        assert "completed" in (await response.json())["error"]["message"]
    finally:
        await client.close()
