"""What every benchmark here compares against: turns sent straight to Rasa's REST channel.

Shared by ``bench/latency.py`` (back-to-back messages) and ``bench/load.py`` (with the
pause its simulated customers take), so that both baselines are measured the same way.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

MESSAGES = [
    "ciao",
    "cosa sai fare?",
    "sei un bot?",
    "grazie mille",
    "hello there",
    "what can you do for me",
    "are you a real person?",
    "thanks a lot",
    "arrivederci",
    "bye",
]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values (a phase where nothing came back)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def rasa_rest_turns(
    rasa_url: str, customers: int, messages: int, *, pause: float = 0.0
) -> tuple[list[float], float]:
    """Latencies of ``customers`` × ``messages`` REST turns and the elapsed wall time.

    Each sender waits for its answer, then ``pause`` seconds, before the next message.
    A turn without any reply is an error: the baseline must be real answers.
    """
    latencies: list[float] = []

    async def one_customer(client: httpx.AsyncClient, index: int) -> None:
        sender = f"bench-rasa-{uuid.uuid4().hex[:8]}-{index}"
        for turn in range(messages):
            started = time.perf_counter()
            response = await client.post(
                f"{rasa_url}/webhooks/rest/webhook",
                json={"sender": sender, "message": MESSAGES[(index + turn) % len(MESSAGES)]},
                timeout=60,
            )
            response.raise_for_status()
            if not response.json():
                raise RuntimeError(f"Rasa gave no reply to {sender}'s message {turn}")
            latencies.append(time.perf_counter() - started)
            if pause:
                await asyncio.sleep(pause)

    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        await asyncio.gather(*(one_customer(client, i) for i in range(customers)))
        return latencies, time.perf_counter() - started
