"""Load on the production topology: web, WhatsApp and Instagram customers at once.

Starts a throwaway PostgreSQL and Redis, fake Twilio and Meta servers (in this process),
two Rasa servers, one action server, two gateways and the reverse proxy, all on
loopback (``scripts/prod.py``). Then, in the same run:

  1. baseline: the same messages straight to Rasa's REST channel (rasa-1);
  2. two gateways + two Rasa: simulated customers on the three channels, through the
     proxy — web over socket.io, WhatsApp and Instagram as signed webhooks, replies
     received by the fake providers;
  3. one gateway + one Rasa: gateway-2 and rasa-2 stopped, the same load again.

Each customer sends its messages one after another, waiting for the reply. Printed:
throughput, p50/p95/p99 end-to-end latency (message sent → first reply received),
and lost and duplicated replies, counted from the database and what each channel
received. Everything is bounded (customers, messages, ``--timeout``).

    .venv/bin/python bench/load.py [--customers 6] [--messages 4] [--timeout 180] [--one-first]

(``--customers`` is per channel.) The same machinery drives the failure test
(``tests/e2e/test_production_failures.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import socketio
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import ONE_ADDRESS_FOR_ALL
from bench.rasa_rest import MESSAGES, percentile, rasa_rest_turns
from channels.fakes.meta_fake import MetaFake
from channels.fakes.twilio_fake import TwilioFake
from scripts.prod import TempPostgres, TempRedis, Topology, free_port

TWILIO = ("AC" + "7" * 32, "load-twilio-auth-token", "whatsapp:+15550009999")
META = (
    "load-meta-app-secret", "load-meta-verify-token", "load-instagram-token", "17841400000000777"
)


@dataclass
class Figures:
    name: str
    latencies: list[float]
    elapsed: float
    lost: int = 0
    duplicated: int = 0
    sent: int = 0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def line(self) -> str:
        ms = [percentile(self.latencies, q) * 1000 for q in (50, 95, 99)]
        extra = f"  lost={self.lost} duplicated={self.duplicated}" if self.sent else ""
        return (
            f"{self.name:<28} n={len(self.latencies):<4} p50={ms[0]:7.0f} ms  p95={ms[1]:7.0f} ms  "
            f"p99={ms[2]:7.0f} ms  throughput={self.throughput:5.2f} msg/s{extra}"
        )


class Providers:
    """Fake Twilio and Meta servers in this process; the gateways send to them."""

    def __init__(self) -> None:
        self.twilio = TwilioFake(*TWILIO)
        self.meta = MetaFake(META[0], META[2], META[3], version="v25.0")
        self._runners: list[web.AppRunner] = []
        self.twilio_url = self.meta_url = ""

    async def start(self) -> Providers:
        for fake, attr in ((self.twilio, "twilio_url"), (self.meta, "meta_url")):
            runner = web.AppRunner(fake.app())
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self._runners.append(runner)
            setattr(self, attr, f"http://127.0.0.1:{port}")
        return self

    def env(self) -> dict[str, str]:
        return {
            "TWILIO_ACCOUNT_SID": TWILIO[0], "TWILIO_AUTH_TOKEN": TWILIO[1],
            "TWILIO_WHATSAPP_FROM": TWILIO[2], "TWILIO_API_BASE_URL": self.twilio_url,
            "META_APP_SECRET": META[0], "META_VERIFY_TOKEN": META[1],
            "INSTAGRAM_ACCESS_TOKEN": META[2], "INSTAGRAM_ACCOUNT_ID": META[3],
            "META_GRAPH_BASE_URL": f"{self.meta_url}/v25.0",
        }

    async def close(self) -> None:
        await self.twilio.close()
        await self.meta.close()
        for runner in self._runners:
            await runner.cleanup()


def gateway_env(providers: Providers) -> dict[str, str]:
    """Gateway settings for load: quick retries, the fake providers, no simulator."""
    return {
        **providers.env(),
        "VETRINA_ENV": "test",
        "VETRINA_LOG_LEVEL": "WARNING",
        "VETRINA_WORKER_POLL_INTERVAL": "0.2",
        "VETRINA_RETRY_BASE_DELAY": "0.5",
        "VETRINA_RETRY_MAX_DELAY": "3",
        "VETRINA_DELAYED_NOTICE_AFTER": "60",
        "RASA_TIMEOUT": "20",
        **ONE_ADDRESS_FOR_ALL,
    }


@dataclass
class Sent:
    channel: str
    customer: str  # web session id, WhatsApp number, Instagram IGSID
    provider_id: str  # what the gateway stores as provider_message_id
    text: str
    at: float


@dataclass
class Load:
    """Customers on three channels against one public URL; records what they sent and got."""

    public_url: str
    providers: Providers
    customers: int
    messages: int
    timeout: float
    sent: list[Sent] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    web_received: Counter[int] = field(default_factory=Counter)  # reply id → times emitted
    web_shown: set[int] = field(default_factory=set)  # reply ids the web screens showed
    web_sessions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    pause: float = 0.3  # a customer's pause after each reply (reading, typing)

    async def run(self, stop_sending: asyncio.Event | None = None) -> float:
        started = time.perf_counter()
        jobs = []
        for index in range(self.customers):
            jobs.append(self._web(index, stop_sending))
            jobs.append(self._whatsapp(index, stop_sending))
            jobs.append(self._instagram(index, stop_sending))
        await asyncio.wait_for(asyncio.gather(*jobs), self.timeout)
        return time.perf_counter() - started

    def _text(self, index: int, turn: int) -> str:
        return MESSAGES[(index + turn) % len(MESSAGES)]

    # --- web: socket.io through the proxy, as the widget does it: the server issues the
    # session id, every reply id is confirmed with vetrina_seen and shown once, the history
    # is read after each (re)connect, and a dropped socket reconnects to the same session.
    async def _web(self, index: int, stop: asyncio.Event | None) -> None:
        screen = WebScreen(self.public_url, self)
        await screen.connect()
        self.web_sessions.append(screen.session_id or "")
        try:
            for turn in range(self.messages):
                if stop is not None and stop.is_set():
                    break
                text, message_id = self._text(index, turn), uuid.uuid4().hex
                started = time.perf_counter()
                # The gateway stores only the session id's public part (before the ".").
                public = (screen.session_id or "").split(".", 1)[0]
                self.sent.append(Sent("web", public, f"{public}:{message_id}", text, time.time()))
                await screen.send(text, message_id)
                if await screen.next_reply(deadline=started + 90):
                    self.latencies.append(time.perf_counter() - started)
                else:
                    self.errors.append(f"web {screen.session_id}: no reply to {text!r}")
                await asyncio.sleep(self.pause)  # the rest of the turn arrives meanwhile
                screen.drain()
            await screen.sync()  # what a reload would show: the last replies, if any missed
        finally:
            await screen.close()

    # --- WhatsApp: signed Twilio webhooks; the reply reaches the fake Twilio -------------
    async def _post_until_accepted(self, post: Any) -> None:
        for attempt in range(60):  # like a provider, retry until a 2xx
            try:
                status, _ = await post()
                if 200 <= status < 300:
                    return
            except Exception:  # noqa: S110 - any failure: retry, as a provider does
                pass
            await asyncio.sleep(min(0.2 * (attempt + 1), 2))
        raise RuntimeError("webhook never accepted")

    async def _wait_new(self, count: Any, before: int, started: float, label: str) -> None:
        while count() <= before:
            if time.perf_counter() - started > 90:
                self.errors.append(f"{label}: no reply")
                return
            await asyncio.sleep(0.02)
        self.latencies.append(time.perf_counter() - started)

    async def _whatsapp(self, index: int, stop: asyncio.Event | None) -> None:
        twilio = self.providers.twilio
        number = f"+3933{abs(hash(self.tag)) % 1000:03d}{index:05d}"
        url = f"{self.public_url}/webhooks/whatsapp"
        for turn in range(self.messages):
            if stop is not None and stop.is_set():
                break
            text = self._text(index, turn)
            params = twilio.incoming(number, text)
            before = len(twilio.sent_to(number))
            started = time.perf_counter()
            self.sent.append(Sent("whatsapp", number, params["MessageSid"], text, time.time()))
            await self._post_until_accepted(lambda params=params: twilio.deliver(url, params))
            await self._wait_new(
                lambda: len(twilio.sent_to(number)), before, started, f"whatsapp {number}"
            )
            await asyncio.sleep(self.pause)

    async def _instagram(self, index: int, stop: asyncio.Event | None) -> None:
        meta = self.providers.meta
        igsid = f"9{abs(hash(self.tag)) % 1000:03d}{index:012d}"
        url = f"{self.public_url}/webhooks/instagram"
        for turn in range(self.messages):
            if stop is not None and stop.is_set():
                break
            text = self._text(index, turn)
            event = meta.message_event(igsid, text)
            payload = meta.batch([[event]])
            before = len(meta.sent_to(igsid))
            started = time.perf_counter()
            self.sent.append(Sent("instagram", igsid, event["message"]["mid"], text, time.time()))
            await self._post_until_accepted(lambda payload=payload: meta.deliver(url, payload))
            await self._wait_new(
                lambda: len(meta.sent_to(igsid)), before, started, f"instagram {igsid}"
            )
            await asyncio.sleep(self.pause)


class WebScreen:
    """One web customer's screen: shows each reply id once and confirms it."""

    def __init__(self, public_url: str, load: Load) -> None:
        self._url = public_url
        self._load = load
        self.session_id: str | None = None
        self._client: socketio.AsyncClient | None = None
        self._new: asyncio.Queue[int] = asyncio.Queue()  # reply ids shown for the first time
        self._acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._history: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def _show(self, client: socketio.AsyncClient, ids: list[int]) -> None:
        for reply_id in ids:
            if reply_id not in self._load.web_shown:
                self._load.web_shown.add(reply_id)
                await self._new.put(reply_id)
        with contextlib.suppress(socketio.exceptions.SocketIOError):
            await client.emit("vetrina_seen", {"ids": ids})

    async def connect(self) -> None:
        for _ in range(100):
            client = socketio.AsyncClient(reconnection=False)

            async def bot_uttered(data: Any, client: socketio.AsyncClient = client) -> None:
                if isinstance(data, dict) and isinstance(data.get("id"), int):
                    self._load.web_received[data["id"]] += 1
                    await self._show(client, [data["id"]])

            async def history(data: Any, client: socketio.AsyncClient = client) -> None:
                items = data.get("messages", []) if isinstance(data, dict) else []
                shown = [m["id"] for m in items if m.get("direction") == "out"]
                await self._show(client, shown)
                await self._history.put(data)

            client.on("bot_uttered", bot_uttered)
            client.on("history", history)
            client.on("message_ack", self._acks.put)
            confirmed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            client.on(
                "session_confirm", lambda data, c=confirmed: c.done() or c.set_result(data)
            )
            try:
                await client.connect(self._url, transports=["websocket"])
                await client.emit(
                    "session_request", {"session_id": self.session_id, "vetrina": 1}
                )
                session_id = await asyncio.wait_for(confirmed, 5)
                if self.session_id is not None and session_id != self.session_id:
                    self._load.errors.append(f"web {self.session_id}: session lost on reconnect")
                self.session_id = session_id
                self._client = client
                await client.emit("history_request", {})
                return
            except (socketio.exceptions.SocketIOError, asyncio.TimeoutError, OSError):
                await client.disconnect()
                await asyncio.sleep(0.5)
        raise RuntimeError("web customer could not connect")

    async def send(self, text: str, message_id: str) -> None:
        """Until the gateway acknowledged it (sent again after a reconnect)."""
        while True:
            try:
                if self._client is None:
                    raise socketio.exceptions.DisconnectedError()
                await self._client.emit("user_uttered", {
                    "message": text, "session_id": self.session_id,
                    "customData": {"message_id": message_id},
                })
                while True:
                    ack = await asyncio.wait_for(self._acks.get(), 5)
                    if ack.get("message_id") == message_id:
                        return
            except (socketio.exceptions.SocketIOError, asyncio.TimeoutError):
                await self.reconnect()

    async def next_reply(self, deadline: float) -> bool:
        """The next reply shown for the first time; a dropped socket reconnects meanwhile."""
        while time.perf_counter() < deadline:
            try:
                await asyncio.wait_for(self._new.get(), 2)
                return True
            except asyncio.TimeoutError:
                if self._client is None or not self._client.connected:
                    await self.reconnect()
        return False

    def drain(self) -> None:
        while not self._new.empty():
            self._new.get_nowait()

    async def sync(self) -> None:
        for _ in range(5):
            try:
                if self._client is None:
                    raise socketio.exceptions.DisconnectedError()
                await self._client.emit("history_request", {})
                await asyncio.wait_for(self._history.get(), 5)
                return
            except (socketio.exceptions.SocketIOError, asyncio.TimeoutError):
                await self.reconnect()

    async def reconnect(self) -> None:
        await self.close()
        await self.connect()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.disconnect()
            self._client = None


@dataclass
class Accounting:
    """Lost and duplicated, from the database and what each channel received."""

    inbound_sent: int
    inbound_stored: int
    inbound_unanswered: int
    replies_stored: int
    replies_undelivered: int
    lost: int
    duplicated: int  # replies a customer got twice (web: as the widget shows them)
    details: list[str]
    web_redelivered: int = 0  # web replies emitted again; the widget shows each id once
    web_replies: int = 0  # web replies stored
    web_confirmed: int = 0  # of which the screen confirmed (messages.seen_at)

    def line(self) -> str:
        return (
            f"customer messages sent={self.inbound_sent} stored={self.inbound_stored} "
            f"unanswered={self.inbound_unanswered}; replies stored={self.replies_stored} "
            f"undelivered={self.replies_undelivered}; lost={self.lost} "
            f"duplicated={self.duplicated} "
            f"(web replies emitted twice, shown once by id: {self.web_redelivered}; "
            f"web replies confirmed by the screen: {self.web_confirmed}/{self.web_replies})"
        )


async def account(database_url: str, load: Load, public_url: str = "") -> Accounting:
    from sqlalchemy import select

    from vetrina.conversations.models import Message
    from vetrina.storage.database import Database

    db = Database(database_url)
    try:
        async with db.sessions() as session:
            rows = (await session.scalars(select(Message).order_by(Message.id))).all()
    finally:
        await db.dispose()
    ours = {(s.channel, s.provider_id) for s in load.sent}
    inbound = {(m.channel, m.provider_message_id): m for m in rows if m.direction == "in"}
    inbound = {key: m for key, m in inbound.items() if key in ours}
    inbound_ids = {m.id for m in inbound.values()}
    replies = [m for m in rows if m.direction == "out" and m.in_reply_to_id in inbound_ids]
    customers = {m.customer_id for m in inbound.values()}
    outbound = [m for m in rows if m.direction == "out" and m.customer_id in customers]
    details: list[str] = []
    lost = duplicated = web_redelivered = 0

    missing_inbound = ours - set(inbound)
    lost += len(missing_inbound)
    details += [f"never stored: {key}" for key in sorted(missing_inbound)[:5]]
    answered = {m.in_reply_to_id for m in replies}
    unanswered = [m for m in inbound.values() if m.status != "processed" or m.id not in answered]
    lost += len(unanswered)
    details += [
        f"unanswered: message {m.id} ({m.channel}) status={m.status}" for m in unanswered[:5]
    ]
    undelivered = [m for m in outbound if m.status not in {"sent", "delivered", "read"}]
    lost += len(undelivered)
    details += [
        f"undelivered: reply {m.id} ({m.channel}) status={m.status}" for m in undelivered[:5]
    ]

    # What each channel received, against what the database says went out. Web: counted
    # at the client (each reply id shown on its screen) and in the database (seen_at).
    web_out = [m for m in outbound if m.channel == "web"]
    for message in web_out:
        if message.id not in load.web_shown:
            lost += 1
            details.append(f"web reply {message.id} never reached the customer's screen")
        web_redelivered += max(0, load.web_received.get(message.id, 0) - 1)
    web_unconfirmed = [m for m in web_out if m.seen_at is None]
    details += [f"web reply {m.id}: not confirmed in the database" for m in web_unconfirmed[:5]]
    whatsapp_ids = Counter(
        int(parse_qs(urlsplit(m.status_callback or "").query).get("message_id", ["0"])[0])
        for m in load.providers.twilio.messages
    )
    for message in (m for m in outbound if m.channel == "whatsapp"):
        times = whatsapp_ids.get(message.id, 0)
        if times == 0:
            lost += 1
            details.append(f"whatsapp reply {message.id} never reached Twilio")
        duplicated += max(0, times - 1)
        if times > 1:
            details.append(f"whatsapp reply {message.id} reached Twilio {times} times")
    by_customer = Counter(m.customer_id for m in outbound if m.channel == "instagram")
    igsid_of = {m.customer_id: key for key, m in inbound.items() if m.channel == "instagram"}
    for customer_id, stored in by_customer.items():
        igsid = next(s.customer for s in load.sent if s.provider_id == igsid_of[customer_id][1])
        received = len(load.providers.meta.sent_to(igsid))
        lost += max(0, stored - received)
        duplicated += max(0, received - stored)
        if received != stored:
            details.append(f"instagram {igsid}: {stored} replies stored, {received} received")
    return Accounting(
        len(ours), len(inbound), len(unanswered), len(replies), len(undelivered), lost,
        duplicated, details, web_redelivered, len(web_out), len(web_out) - len(web_unconfirmed),
    )


async def settled(database_url: str, timeout: float) -> bool:
    """Wait until no customer message waits for the assistant and no reply for delivery."""
    from sqlalchemy import func, select

    from vetrina.conversations.models import PENDING_INBOUND, Message
    from vetrina.storage.database import Database

    db = Database(database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                async with db.sessions() as session:
                    waiting = await session.scalar(
                        select(func.count()).where(
                            ((Message.direction == "in") & Message.status.in_(PENDING_INBOUND))
                            | ((Message.direction == "out") & (Message.status == "pending"))
                        )
                    )
                if not waiting:
                    return True
            except Exception:  # noqa: S110 - the database may be restarting
                pass
            await asyncio.sleep(0.5)
        return False
    finally:
        await db.dispose()


async def rasa_baseline(rasa_url: str, customers: int, messages: int) -> Figures:
    # The same pause the simulated customers take between messages.
    latencies, elapsed = await rasa_rest_turns(rasa_url, customers, messages, pause=0.3)
    return Figures("Rasa REST (baseline)", latencies, elapsed)


async def measure_load(name: str, topology: Topology, providers: Providers,
                       args: argparse.Namespace) -> Figures:
    load = Load(topology.public_url, providers, args.customers, args.messages, args.timeout)
    elapsed = await load.run()
    await settled(topology.database_url, 60)
    accounting = await account(topology.database_url, load, topology.public_url)
    figures = Figures(name, load.latencies, elapsed, accounting.lost, accounting.duplicated,
                      accounting.inbound_sent)
    print(figures.line(), flush=True)
    print(f"    {accounting.line()}", flush=True)
    for line in accounting.details[:10] + load.errors[:5]:
        print(f"    ! {line}", flush=True)
    return figures


async def main_async(args: argparse.Namespace, base: Path) -> None:
    postgres = TempPostgres().start()
    redis = TempRedis(base / "redis").start()
    providers = await Providers().start()
    topology = Topology(base / "var", postgres.admin_url, redis.url, instances=2,
                        proxy_port=free_port(), extra_env=gateway_env(providers))
    providers.twilio.statuses = ()  # no status callbacks: they would only add noise here
    try:
        print("preparing databases, starting 2 Rasa, action server, 2 gateways, proxy…", flush=True)
        await asyncio.to_thread(topology.prepare)
        await asyncio.to_thread(topology.start)
        rasa_url = f"http://127.0.0.1:{topology.rasa_ports[0]}"
        total = 3 * args.customers
        print("warming up…", flush=True)
        await rasa_baseline(rasa_url, 2, 1)
        await rasa_baseline(f"http://127.0.0.1:{topology.rasa_ports[1]}", 2, 1)
        # Both paths warm (action server's catalog index, both Rasa, connections)
        # before anything is measured.
        warm = argparse.Namespace(customers=2, messages=2, timeout=args.timeout)
        await Load(
            topology.public_url, providers, warm.customers, warm.messages, warm.timeout
        ).run()
        print(f"\n{args.customers} customers per channel (web, WhatsApp, Instagram) × "
              f"{args.messages} messages each\n", flush=True)
        baseline = await rasa_baseline(rasa_url, total, args.messages)
        print(baseline.line(), flush=True)
        if args.one_first:  # the other order, to see what the order itself costs
            topology.gateways[1].stop()
            topology.rasas[1].stop()
            one = await measure_load("1 gateway + 1 Rasa", topology, providers, args)
            await asyncio.to_thread(topology.restart, topology.rasas[1])
            await asyncio.to_thread(topology.restart, topology.gateways[1], 60)
            await rasa_baseline(f"http://127.0.0.1:{topology.rasa_ports[1]}", 2, 1)
            two = await measure_load("2 gateways + 2 Rasa", topology, providers, args)
        else:
            two = await measure_load("2 gateways + 2 Rasa", topology, providers, args)
            topology.gateways[1].stop()
            topology.rasas[1].stop()
            one = await measure_load("1 gateway + 1 Rasa", topology, providers, args)
        def vs_rasa(run: Figures, q: float) -> float:
            return percentile(run.latencies, q) / percentile(baseline.latencies, q)

        print(
            f"\nthroughput 2+2 / 1+1: {two.throughput / one.throughput:.2f}x\n"
            f"p50 vs Rasa baseline: 1+1 {vs_rasa(one, 50):.2f}x, 2+2 {vs_rasa(two, 50):.2f}x; "
            f"p99: 1+1 {vs_rasa(one, 99):.2f}x, 2+2 {vs_rasa(two, 99):.2f}x",
            flush=True,
        )
    finally:
        await asyncio.to_thread(topology.stop)
        await providers.close()
        redis.stop()
        postgres.remove()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=6, help="per channel")
    parser.add_argument("--messages", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=180, help="seconds per load phase")
    parser.add_argument("--one-first", action="store_true",
                        help="measure 1 gateway + 1 Rasa before 2 + 2")
    args = parser.parse_args()
    if not (1 <= args.customers <= 50 and 1 <= args.messages <= 20):
        parser.error("--customers 1..50, --messages 1..20")
    with tempfile.TemporaryDirectory(prefix="vetrina-load-") as folder:
        asyncio.run(main_async(args, Path(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
