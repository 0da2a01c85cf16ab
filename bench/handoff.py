"""Handoff latency: customer message → shown in a connected console, and consultant reply →
delivered to the customer's channel (the web widget's socket), with a bot turn through
the same gateway as the baseline of this run.

Starts its own Rasa server, action server and gateway (fresh SQLite files in a temp
folder, free loopback ports), then:
  1. baseline: N web customers each send a message and wait for the bot's answer;
  2. each customer's conversation is queued for a consultant and claimed by one of K
     consultants (console API), each with the console's websocket open;
  3. customer → console: each customer sends M messages; the time until the owning
     consultant's websocket shows it (the assistant is silent, the message is recorded in
     Rasa's tracker after it is shown);
  4. consultant → customer: each consultant replies M times per conversation; the time from
     the reply's POST until the customer's socket receives it.
Prints p50/p95/p99 of each and the ratio to the bot turn.

    .venv/bin/python bench/handoff.py [--customers 20] [--consultants 4] [--messages 5]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import ONE_ADDRESS_FOR_ALL
from bench.latency import summary
from scripts.stack import Ports, Stack
from tests.chat_client import WebCustomer
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench console password"  # noqa: S105 - a throwaway bench account


class Consultant:
    def __init__(self, base_url: str, email: str) -> None:
        self.base_url = base_url
        self.email = email
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.waiters: dict[str, asyncio.Future[float]] = {}

    async def login(self) -> None:
        page = await (await self.http.get(self.base_url + "/console/login")).text()
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        response = await self.http.post(
            self.base_url + "/console/login",
            data={"csrf": token, "email": self.email, "password": PASSWORD}, allow_redirects=False,
        )
        assert response.status == 302, response.status
        me = await (await self.http.get(self.base_url + "/console/api/me")).json()
        self.csrf = me["csrf_token"]
        self.ws = await self.http.ws_connect(self.base_url + "/console/ws")
        asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            event = message.json()
            if event.get("topic") == "conversation" and event.get("type") == "message":
                waiter = self.waiters.pop(event["message"]["text"], None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(time.perf_counter())

    def expect(self, text: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[text] = future
        return future

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.http.post(
            self.base_url + path, json=body or {}, headers={"X-CSRF-Token": self.csrf}
        )
        assert response.status == 200, (response.status, await response.text())
        return await response.json()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.http.close()


async def queue_for_consultant(database_url: str, customer_ids: list[str]) -> dict[str, int]:
    """What action_request_consultant does, straight on the database (no NLU involved)."""
    from vetrina.conversations.handoff import CUSTOMER, HandoffOptions, Reason, request_consultant
    from vetrina.conversations.routing import ConsultantHours
    from vetrina.storage.database import Database

    db = Database(database_url)
    try:
        ids = {}
        for customer_id in customer_ids:
            outcome = await request_consultant(
                db, customer_id, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER,
                options=HandoffOptions(ConsultantHours.parse("")),
            )
            ids[customer_id] = outcome.conversation_id
        return ids
    finally:
        await db.dispose()


async def customer_id_of(database_url: str, session_id: str) -> str:
    from channels.web.session_ids import SessionIds
    from vetrina.customers.identities import find_customer_id
    from vetrina.storage.database import Database

    db = Database(database_url)
    try:
        async with db.sessions() as session:  # only the id's public part is stored
            found = await find_customer_id(session, "web", SessionIds.public(session_id))
        assert found is not None
        return found
    finally:
        await db.dispose()


async def measure(args: argparse.Namespace, stack: Stack, database_url: str) -> None:
    gateway_url = f"http://127.0.0.1:{stack.ports.gateway}"
    customers = [await WebCustomer(gateway_url).connect() for _ in range(args.customers)]

    # 1. baseline: one bot turn each, through the same gateway
    bot_turns: list[float] = []

    async def bot_turn(customer: WebCustomer) -> None:
        started = time.perf_counter()
        await customer.send("ciao")
        await customer.next("bot_uttered", timeout=120)
        bot_turns.append(time.perf_counter() - started)
        await asyncio.sleep(0.5)
        while not customer.events["bot_uttered"].empty():
            customer.events["bot_uttered"].get_nowait()

    started = time.perf_counter()
    await asyncio.gather(*(bot_turn(c) for c in customers))
    baseline = summary("bot turn (baseline)", bot_turns, time.perf_counter() - started)

    # 2. queue every conversation and let the consultants claim them
    ids = [await customer_id_of(database_url, c.session_id or "") for c in customers]
    conversations = await queue_for_consultant(database_url, ids)
    consultants = [
        Consultant(gateway_url, f"bench{i}@example.com") for i in range(args.consultants)
    ]
    for consultant in consultants:
        await consultant.login()
    owner: dict[int, Consultant] = {}
    for index, customer_id in enumerate(ids):
        consultant = consultants[index % len(consultants)]
        conversation_id = conversations[customer_id]
        await consultant.post(f"/console/api/conversations/{conversation_id}/claim")
        owner[index] = consultant
    await asyncio.sleep(1.0)
    for customer in customers:  # the "a consultant is with you" notices
        while not customer.events["bot_uttered"].empty():
            customer.events["bot_uttered"].get_nowait()

    # 3. customer → console
    to_console: list[float] = []

    async def customer_writes(index: int, customer: WebCustomer) -> None:
        for turn in range(args.messages):
            text = f"c{index}-m{turn}-{uuid.uuid4().hex[:6]}"
            shown = owner[index].expect(text)
            sent_at = time.perf_counter()
            await customer.send(text)
            to_console.append(await asyncio.wait_for(shown, 30) - sent_at)
            await asyncio.sleep(0.05)

    started = time.perf_counter()
    await asyncio.gather(*(customer_writes(i, c) for i, c in enumerate(customers)))
    console_figures = summary(
        "customer → console", to_console, time.perf_counter() - started
    )

    # 4. consultant → customer
    to_customer: list[float] = []

    async def consultant_replies(index: int, customer: WebCustomer) -> None:
        conversation_id = conversations[ids[index]]
        for turn in range(args.messages):
            text = f"r{index}-m{turn}"
            sent_at = time.perf_counter()
            await owner[index].post(
                f"/console/api/conversations/{conversation_id}/messages", {"text": text}
            )
            while True:
                received = await customer.next("bot_uttered", timeout=30)
                if received.get("text") == text:
                    break
            to_customer.append(time.perf_counter() - sent_at)

    started = time.perf_counter()
    await asyncio.gather(*(consultant_replies(i, c) for i, c in enumerate(customers)))
    reply_figures = summary(
        "consultant → customer", to_customer, time.perf_counter() - started
    )
    print(
        f"\nratio to the bot turn: customer→console p50 "
        f"{console_figures['p50'] / baseline['p50']:.2f}x p99 "
        f"{console_figures['p99'] / baseline['p99']:.2f}x; consultant→customer p50 "
        f"{reply_figures['p50'] / baseline['p50']:.2f}x p99 "
        f"{reply_figures['p99'] / baseline['p99']:.2f}x"
    )
    for consultant in consultants:
        await consultant.close()
    for customer in customers:
        await customer.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--consultants", type=int, default=4)
    parser.add_argument("--messages", type=int, default=5)
    args = parser.parse_args()
    if min(args.customers, args.consultants, args.messages) < 1:
        parser.error("--customers, --consultants and --messages must be at least 1")
    with tempfile.TemporaryDirectory(prefix="vetrina-bench-") as folder:
        var = Path(folder)
        database_url = f"sqlite+aiosqlite:///{var / 'vetrina.db'}"
        env = {"DATABASE_URL": database_url, "VETRINA_LOG_LEVEL": "WARNING", **ONE_ADDRESS_FOR_ALL}
        stack = Stack(
            Ports(gateway=free_port(), rasa=free_port(), actions=free_port()),
            var=var, extra_env=env,
        )
        from vetrina.storage.migrate import upgrade

        upgrade(database_url)
        for i in range(args.consultants):
            subprocess.run(
                [str(ROOT / ".venv" / "bin" / "vetrina"), "consultant", "create",
                 "--email", f"bench{i}@example.com", "--name", f"Bench {i}", "--password-stdin"],
                input=PASSWORD + "\n", text=True, check=True, capture_output=True,
                env={**__import__("os").environ, **env},
            )
        services = [stack.actions(), stack.rasa(), stack.gateway()]
        print("starting Rasa, action server and gateway…", flush=True)
        try:
            for service in services:
                service.start()
            for service in services:
                service.wait_ready(timeout=240)
            print(
                f"{args.customers} web customers, {args.consultants} consultants, "
                f"{args.messages} messages each way per conversation\n", flush=True,
            )
            asyncio.run(measure(args, stack, database_url))
        finally:
            for service in reversed(services):
                service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
