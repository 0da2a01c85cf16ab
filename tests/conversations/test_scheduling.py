"""The assistant's slots: oldest turn first, and a limit that follows Rasa's latency."""

from __future__ import annotations

import asyncio

import pytest

from vetrina.conversations.scheduling import AdaptiveLimit, LimitOptions, TurnScheduler


def test_the_limit_grows_while_turns_stay_fast_and_every_slot_is_used() -> None:
    limit = AdaptiveLimit(LimitOptions(initial=4, minimum=2, maximum=12))
    for _ in range(400):
        limit.observe(0.1, busy=limit.limit)
    assert limit.adapted == 12


def test_the_limit_does_not_grow_when_slots_are_left_unused() -> None:
    limit = AdaptiveLimit(LimitOptions(initial=4, minimum=2, maximum=12))
    for _ in range(400):
        limit.observe(0.1, busy=1)
    assert limit.adapted == 4


def test_slow_turns_shrink_the_limit_once_per_round_down_to_the_minimum() -> None:
    limit = AdaptiveLimit(LimitOptions(initial=10, minimum=3, maximum=16))
    limit.observe(0.1, busy=10)  # the floor
    limit.observe(0.5, busy=10)  # slow, but the round (10 turns) is not over yet
    assert limit.adapted == 10
    for _ in range(8):
        limit.observe(0.5, busy=10)
    assert limit.adapted == 8  # 10 x 0.8, once
    for _ in range(100):
        limit.observe(0.5, busy=10)
    assert limit.adapted == 3


def test_the_limit_settles_where_a_processor_sharing_server_starts_to_queue() -> None:
    """A Rasa-like server on 2 cores: a turn takes 0.1 s alone and (busy / 2) x 0.1 s
    once more than 2 share the CPU. The limit ends near ``tolerance`` x cores, not at
    either bound."""
    limit = AdaptiveLimit(LimitOptions(initial=8, minimum=1, maximum=32, window=200))
    for _ in range(5000):
        busy = limit.limit
        limit.observe(0.1 * max(1.0, busy / 2), busy=busy)
    assert 3 <= limit.adapted <= 6, limit.adapted


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="minimum <= initial <= maximum"):
        AdaptiveLimit(LimitOptions(initial=1, minimum=2, maximum=4))


async def test_a_freed_slot_goes_to_the_oldest_waiting_turn_not_the_first_to_ask() -> None:
    scheduler = TurnScheduler(AdaptiveLimit(LimitOptions(initial=1, minimum=1, maximum=1)))
    order: list[int] = []
    release = asyncio.Event()

    async def turn(message_id: int) -> None:
        async with scheduler.slot(message_id):
            order.append(message_id)
            if message_id == 1:
                await release.wait()

    first = asyncio.create_task(turn(1))
    await asyncio.sleep(0)
    waiting = []
    for message_id in (30, 20, 10):  # a fast writer's newer turns ask first
        waiting.append(asyncio.create_task(turn(message_id)))
        await asyncio.sleep(0)
    assert scheduler.waiting == 3 and scheduler.busy == 1
    release.set()
    await asyncio.gather(first, *waiting)
    assert order == [1, 10, 20, 30]
    assert scheduler.busy == 0


async def test_a_cancelled_waiter_gives_its_place_up_and_failures_free_the_slot() -> None:
    scheduler = TurnScheduler(AdaptiveLimit(LimitOptions(initial=1, minimum=1, maximum=1)))
    hold = asyncio.Event()

    async def holder() -> None:
        async with scheduler.slot(1):
            await hold.wait()

    task = asyncio.create_task(holder())
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(scheduler.slot(2).__aenter__())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    hold.set()
    await task

    with pytest.raises(RuntimeError):
        async with scheduler.slot(3):
            raise RuntimeError("Rasa said no")
    assert scheduler.busy == 0 and scheduler.waiting == 0
    assert scheduler.limit.floor is not None  # only the finished turn 1 was timed

    async def next_turn() -> int:
        async with scheduler.slot(4):
            return scheduler.busy

    assert await asyncio.wait_for(next_turn(), 1) == 1  # nobody left holding a slot
