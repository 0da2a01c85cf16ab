"""What one chat turn costs, split by stage: gateway, Rasa (NLU, policies, tracker store,
other), action server and stock resolver; at several conversation lengths and catalogs.

Issue 18 asks where a turn's CPU goes before anything is cut. For each catalog this starts
its own stack exactly as ``bench/latency.py`` does (fresh SQLite in a temp folder, free
ports), loads the catalog into the stack's database, and for each conversation length L:

  1. prepares customers whose next turn is turn L: each writes one message through the
     gateway's socket.io endpoint (the web customer and Rasa's tracker are created), then
     L-2 copies of a real small-talk turn's events are appended to its Rasa tracker through
     the HTTP API (``POST /conversations/{id}/tracker/events``), the cheap way to a long
     conversation;
  2. measures N turns, one at a time, one per customer, half small talk and half stock
     questions naming a product, colour, size and city of the loaded catalog: CPU of each
     process (``/proc/<pid>/stat`` utime+stime of the service's process tree; the idle
     background measured beforehand is subtracted), wall time from the message to the
     first reply, and the gateway's own ``vetrina_rasa_latency_seconds``;
  3. repeats N turns on other customers under ``py-spy record --format raw --nonblocking``
     (one per process) and splits each process's CPU by the share of its samples in each
     stage (:func:`stage_of`); Rasa's TensorFlow threads, which py-spy cannot see, count
     as NLU. A non-blocking py-spy cannot tell a waiting thread from a running one, so a
     sample whose innermost frame is a wait is counted apart as idle (:func:`is_idle`);
     ``--blocking`` lets py-spy judge instead (and ``--idle`` makes it keep idle threads).
     Rasa's samples are also split by step of ``handle_message`` (:func:`step_of`).

SQL statements, commits and garbage-collector time per turn are counted in every process
by ``bench/probe`` (a ``sitecustomize`` put on the services' ``PYTHONPATH``; ``--no-probe``
turns it off); Rasa → action server calls come from the action server's log.
``--without-speedups`` runs Rasa without the launcher's cuts (``run_rasa.py`` ``speed_ups``),
the "before" of that change.

    PYTHONPATH=$PWD .venv/bin/python bench/turn_cost.py [--turns 30] [--lengths 1,50,200]
        [--catalogs 4000,100000] [--quick] [--idle] [--blocking] [--without-speedups]
        [--keep-raw DIR] [--out bench/results/turn_cost.md]

Catalog 4000 is the demo retailer (``vetrina demo``: 320 products, ~4,000 variants, 18
stores); any other size is ``bench/stock.py``'s generated catalog (200 stores, each
variant stocked in 10 % of them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.rasa_rest import MESSAGES, percentile
from scripts.stack import ROOT, Ports, Service, Stack
from tests.chat_client import WebCustomer
from tests.conftest import free_port

PY_SPY = ROOT / ".venv" / "bin" / "py-spy"
PROBE = Path(__file__).resolve().parent / "probe"
RESULTS = Path(__file__).resolve().parent / "results" / "turn_cost.md"
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEMO_VARIANTS = 4000  # what --catalogs calls the demo retailer
RATE = 200  # py-spy samples per second

GATEWAY, RASA, ACTIONS = "gateway", "rasa", "actions"
IDLE = "idle"
STAGES = (
    "gateway",
    "Rasa NLU",
    "Rasa policies",
    "Rasa tracker store",
    "Rasa other",
    "action server (SDK/HTTP)",
    "action server DB",
    "stock resolver",
)
SMALL_TALK = [m for m in MESSAGES if m not in ("arrivederci", "bye")]  # no goodbyes mid-chat

# --- attribution ------------------------------------------------------------------------

# A frame as py-spy prints it: "function (path/to/file.py:line)"; paths may be absolute.
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _aiosqlite_wait_line() -> int:
    """The line where aiosqlite's worker thread waits for the next query (``tx.get()``)."""
    try:
        import aiosqlite.core

        source = Path(aiosqlite.core.__file__).read_text().splitlines()
        return next(i for i, text in enumerate(source, 1) if "tx.get()" in text)
    except (ImportError, OSError, StopIteration):
        return 59  # aiosqlite 0.22


# With --nonblocking py-spy cannot tell a waiting thread from a running one (it does not
# stop the thread to read its state), so samples whose innermost Python frame is a wait
# are idle: (function, file ending, line or 0 for any).
WAITS: tuple[tuple[str, str, int], ...] = (
    ("serve", "sanic/server/runners.py", 0),  # uvloop's run_forever, in C: waiting
    ("_connection_worker_thread", "aiosqlite/core.py", _aiosqlite_wait_line()),
    ("select", "selectors.py", 0),
    ("poll", "selectors.py", 0),
    ("wait", "threading.py", 0),
    ("_wait_for_tstate_lock", "threading.py", 0),
    ("get", "queue.py", 0),
    ("run", "threading.py", 0),  # a thread whose target is a C call (SimpleQueue.get)
    ("_worker", "concurrent/futures/thread.py", 0),
)


def frames_of(stack: str) -> list[tuple[str, str, int]]:
    """(function, file, line) of each frame of a collapsed stack, outermost first."""
    frames = []
    for part in stack.split(";"):
        match = _FRAME.match(part.strip())
        if match:
            line = int(match["line"]) if match["line"] else 0
            frames.append((match["function"], match["file"].replace("\\", "/"), line))
        else:
            frames.append((part.strip(), "", 0))
    return frames


def is_idle(
    frames: Sequence[tuple[str, str, int]], waits: Sequence[tuple[str, str, int]] = WAITS
) -> bool:
    """A waiting thread, or the bench's own probe thread (never part of a turn)."""
    if not frames or any(file.endswith("sitecustomize.py") for _, file, _ in frames):
        return True
    function, file, line = frames[-1]
    return any(
        function == f and file.endswith(ending) and (not wait_line or line == wait_line)
        for f, ending, wait_line in waits
    )


def stage_of(
    service: str, stack: str, waits: Sequence[tuple[str, str, int]] = WAITS
) -> str:
    """The stage one sampled stack belongs to (``IDLE`` for a waiting thread).

    Rasa, most specific first: under an NLU component (``rasa/nlu/``) or ``parse_message``
    it is NLU; under a policy, a featurizer or the prediction loop's ``_predict_next*`` it
    is policies; in the tracker store, the lock store or the tracker's events code (load,
    save, (de)serialisation, replay) it is tracker store; the rest (Sanic, the REST
    channel, the action server's HTTP client and its response validation, NLG) is Rasa
    other. Action server: ``vetrina/catalog`` frames are the stock resolver (product index,
    resolution, the availability calls); SQLAlchemy and aiosqlite frames without them are
    its DB work (queries run in aiosqlite's thread and in greenlets, whose stacks do not
    say who asked); the rest is rasa-sdk, Sanic and the actions' own code.
    """
    frames = frames_of(stack)
    if is_idle(frames, waits):
        return IDLE
    files = [file for _, file, _ in frames]
    functions = [function for function, _, _ in frames]

    def has(fragment: str) -> bool:
        return any(fragment in file for file in files)

    if service == GATEWAY:
        return "gateway"
    if service == ACTIONS:
        if has("vetrina/catalog/"):
            return "stock resolver"
        if has("sqlalchemy/") or has("aiosqlite/"):
            return "action server DB"
        return "action server (SDK/HTTP)"
    if has("rasa/nlu/") or "parse_message" in functions:
        return "Rasa NLU"
    if (
        has("rasa/core/policies/")
        or has("rasa/core/featurizers/")
        or any(f.startswith("_predict_next") or f == "predict_next_action" for f in functions)
    ):
        return "Rasa policies"
    if (
        has("rasa/core/tracker_store.py")
        or has("rasa/core/lock_store.py")
        or has("rasa/shared/core/trackers.py")
        or has("rasa/shared/core/events.py")
    ):
        return "Rasa tracker store"
    return "Rasa other"


# Rasa's steps of one turn (rasa/core/processor.py handle_message), innermost first wins.
STEPS = (
    ("save_tracker", "save tracker"),
    ("fetch_tracker_and_update_session", "load tracker"),
    ("parse_message", "parse (NLU)"),
    ("run_action_extract_slots", "slot mappings (+ action_validate_slot_mappings)"),
    ("_run_prediction_loop", "predict and run actions"),
)


def step_of(stack: str) -> str:
    """Which step of Rasa's ``handle_message`` a sampled stack is in: the cost of each
    call, whatever the stage (the slot step holds the action server round trip that
    every turn makes)."""
    functions = {function for function, _, _ in frames_of(stack)}
    for function, step in STEPS:
        if function in functions:
            return step
    return "HTTP and the rest"


def library_of(stack: str) -> str:
    """The package of the innermost frame ("sqlalchemy", "tensorflow", "json"…): where
    inside a stage the CPU goes."""
    frames = frames_of(stack)
    file = frames[-1][1] if frames else ""
    if not file or "/" not in file:
        return file.rsplit(".", 1)[0] or "?"
    parts = file.split("/")
    for marker in ("site-packages", "python3.10", "lib"):
        if marker in parts:
            parts = parts[len(parts) - parts[::-1].index(marker) :]
            break
    return parts[0] if len(parts) > 1 else parts[0].rsplit(".", 1)[0]


def samples_by_step(
    raw: Iterable[str], waits: Sequence[tuple[str, str, int]] = WAITS
) -> Counter[str]:
    """Rasa's busy samples by :func:`step_of`."""
    counts: Counter[str] = Counter()
    for line in raw:
        stack, _, number = line.rstrip("\n").rpartition(" ")
        if stack and number.isdigit() and stage_of(RASA, stack, waits) != IDLE:
            counts[step_of(stack)] += int(number)
    return counts


def samples_by_stage(
    service: str, raw: Iterable[str], waits: Sequence[tuple[str, str, int]] = WAITS
) -> Counter[str]:
    """Sum py-spy's raw output (``stack count`` per line) by stage."""
    counts: Counter[str] = Counter()
    for (stage, _), n in tally(service, raw, waits).items():
        counts[stage] += n
    return counts


def tally(
    service: str, raw: Iterable[str], waits: Sequence[tuple[str, str, int]] = WAITS
) -> Counter[tuple[str, str]]:
    """Samples by (stage, library of the innermost frame). ``waits=()`` when py-spy
    judged idleness itself (blocking mode): only the probe's thread is then idle."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in raw:
        stack, _, number = line.rstrip("\n").rpartition(" ")
        if stack and number.isdigit():
            stage = stage_of(service, stack, waits)
            counts[stage, "" if stage == IDLE else library_of(stack)] += int(number)
    return counts


# --- processes --------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def tree(root: int) -> list[int]:
    """``root`` and its living descendants (the launcher and the real server)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def cpu_ticks(pid: int, children: bool = True) -> int:
    """utime+stime (+ reaped children's) of one process, in clock ticks."""
    fields = _stat(pid)
    if not fields:
        return 0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks + (int(fields[13]) + int(fields[14]) if children else 0)


def thread_ticks(pid: int) -> dict[int, int]:
    """CPU ticks of each thread of ``pid`` (thread id → utime+stime)."""
    ticks = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        fields = _stat_path(task / "stat")
        if fields:
            ticks[int(task.name)] = int(fields[11]) + int(fields[12])
    return ticks


def _stat_path(path: Path) -> list[str] | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


@dataclass
class Process:
    """One service of the stack: its launcher, the busiest python in its tree."""

    name: str
    service: Service
    main: int = 0

    def pids(self) -> list[int]:
        assert self.service.process is not None
        return tree(self.service.process.pid)

    def ticks(self) -> int:
        return sum(cpu_ticks(pid) for pid in self.pids())

    def find_main(self) -> None:
        """The process doing the work: the one with most CPU so far (model, imports)."""
        self.main = max(self.pids(), key=lambda pid: cpu_ticks(pid, children=False))


@dataclass
class Snapshot:
    at: float
    ticks: dict[str, int]
    threads: dict[int, int]  # Rasa's threads
    sql: dict[str, dict[str, int]]
    rasa_latency: tuple[float, float]  # gateway's histogram: sum, count
    actions_log: int  # size of the action server's log: its "running <action>" lines


@dataclass
class Phase:
    """What N turns cost, as deltas between two snapshots."""

    turns: int
    seconds: float
    cpu_ms: dict[str, float]  # per process, idle background subtracted
    rasa_main_ms: float  # Rasa's main thread (py-spy sees it) vs its other threads
    rasa_other_threads_ms: float
    rasa_threads: dict[str, float]  # other threads' CPU ms by thread name
    sql: dict[str, dict[str, int]]
    rasa_latency_ms: float  # mean, the gateway's own timing
    action_calls: dict[str, int]  # Rasa → action server calls, by action
    latencies: list[float] = field(default_factory=list)

    def per_turn(self, name: str) -> float:
        return self.cpu_ms[name] / self.turns


# --- the bench --------------------------------------------------------------------------


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


@dataclass
class Bench:
    stack: Stack
    processes: dict[str, Process]
    database_url: str
    probe: Path | None
    idle_rate: dict[str, float] = field(default_factory=dict)  # ms of CPU per second

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.stack.ports.gateway}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.stack.ports.rasa}"

    async def rasa_latency(self, client: httpx.AsyncClient) -> tuple[float, float]:
        text = (await client.get(f"{self.gateway_url}/metrics")).text
        found = dict.fromkeys(("sum", "count"), 0.0)
        for line in text.splitlines():
            for key in found:
                if line.startswith(f"vetrina_rasa_latency_seconds_{key} "):
                    found[key] = float(line.split()[1])
        return found["sum"], found["count"]

    def sql(self) -> dict[str, dict[str, int]]:
        totals: dict[str, dict[str, int]] = {}
        if self.probe is None:
            return totals
        for name, process in self.processes.items():
            total: Counter[str] = Counter()
            for pid in process.pids():
                try:
                    total.update(json.loads((self.probe / f"{pid}.json").read_text()))
                except (OSError, ValueError):
                    continue
            totals[name] = dict(total)
        return totals

    async def snapshot(self, client: httpx.AsyncClient) -> Snapshot:
        if self.probe is not None:
            await asyncio.sleep(0.5)  # the probe writes its counts every 0.2 s
        return Snapshot(
            time.monotonic(),
            {name: p.ticks() for name, p in self.processes.items()},
            thread_ticks(self.processes[RASA].main),
            self.sql(),
            await self.rasa_latency(client),
            self.processes[ACTIONS].service.log_path.stat().st_size,
        )

    def phase(self, before: Snapshot, after: Snapshot, turns: int, lat: list[float]) -> Phase:
        seconds = after.at - before.at
        tick_ms = 1000 / CLK_TCK
        cpu = {
            name: max(
                0.0,
                (after.ticks[name] - before.ticks[name]) * tick_ms
                - self.idle_rate.get(name, 0.0) * seconds,
            )
            for name in self.processes
        }
        main = self.processes[RASA].main
        main_ms = (after.threads.get(main, 0) - before.threads.get(main, 0)) * tick_ms
        others = sum(
            ticks - before.threads.get(tid, 0)
            for tid, ticks in after.threads.items()
            if tid != main
        ) * tick_ms
        names: dict[str, float] = {}
        for tid, ticks in after.threads.items():
            if tid != main and ticks > before.threads.get(tid, 0):
                try:
                    name = Path(f"/proc/{main}/task/{tid}/comm").read_text().strip()
                except OSError:
                    name = "?"
                names[name] = names.get(name, 0.0) + (ticks - before.threads.get(tid, 0)) * tick_ms
        sql = {
            name: {
                key: value - before.sql.get(name, {}).get(key, 0)
                for key, value in counts.items()
            }
            for name, counts in after.sql.items()
        }
        total, count = (a - b for a, b in zip(after.rasa_latency, before.rasa_latency, strict=True))
        with open(self.processes[ACTIONS].service.log_path, "rb") as log:
            log.seek(before.actions_log)
            text = log.read(after.actions_log - before.actions_log).decode(errors="replace")
        calls = Counter(re.findall(r"running (\w+)", text))
        return Phase(
            turns, seconds, cpu, main_ms, others, dict(names), sql,
            total / count * 1000 if count else float("nan"), dict(calls), lat,
        )

    async def measure_idle(self, client: httpx.AsyncClient, seconds: float) -> None:
        """CPU the services spend with nothing to do (timers, pollers), to subtract."""
        self.idle_rate = {}
        before = await self.snapshot(client)
        await asyncio.sleep(seconds)
        after = await self.snapshot(client)
        elapsed = after.at - before.at
        self.idle_rate = {
            name: (after.ticks[name] - before.ticks[name]) * 1000 / CLK_TCK / elapsed
            for name in self.processes
        }

    # -- customers ---------------------------------------------------------------------

    async def customer_id(self, customer: WebCustomer) -> str:
        from channels.web.session_ids import SessionIds
        from vetrina.customers.identities import find_customer_id
        from vetrina.storage.database import Database

        db = Database(self.database_url)
        try:
            async with db.sessions() as session:
                found = await find_customer_id(
                    session, "web", SessionIds.public(customer.session_id or "")
                )
        finally:
            await db.dispose()
        if found is None:
            raise RuntimeError("the gateway stored no web customer for this session")
        return found

    async def turn(self, customer: WebCustomer, text: str) -> tuple[float, str]:
        """Seconds from sending ``text`` to the first reply, and its text; the rest of the
        turn's replies are drained (they come in the same Rasa answer)."""
        started = time.perf_counter()
        await customer.send(text)
        first = await customer.next("bot_uttered", timeout=120)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.2)
        for queue in customer.events.values():
            while not queue.empty():
                queue.get_nowait()
        return elapsed, str((first or {}).get("text") or "")

    async def prefill_template(
        self, client: httpx.AsyncClient, sender: str
    ) -> list[dict[str, Any]]:
        """The events of ``sender``'s last turn (user … action_listen), as Rasa stored
        them, to be appended again: real event shapes for the prefilled turns."""
        response = await client.get(
            f"{self.rasa_url}/conversations/{sender}/tracker",
            params={"token": self.stack.token, "include_events": "AFTER_RESTART"},
        )
        response.raise_for_status()
        events = response.json()["events"]
        start = max(i for i, e in enumerate(events) if e.get("event") == "user")
        template = []
        for event in events[start:]:
            event = {k: v for k, v in event.items() if k != "timestamp"}
            if event.get("event") == "user":
                event["metadata"] = {}
                event.pop("message_id", None)
            template.append(event)
        return template

    async def prefill(
        self, client: httpx.AsyncClient, sender: str, template: list[dict[str, Any]], turns: int
    ) -> None:
        for start in range(0, turns, 100):  # one request per 100 turns
            events = template * min(100, turns - start)
            response = await client.post(
                f"{self.rasa_url}/conversations/{sender}/tracker/events",
                params={"token": self.stack.token, "include_events": "NONE"},
                json=events,
                timeout=120,
            )
            response.raise_for_status()

    async def customers_at(
        self, client: httpx.AsyncClient, count: int, length: int
    ) -> list[WebCustomer]:
        """``count`` connected web customers whose next turn is turn ``length``."""
        customers = [await WebCustomer(self.gateway_url).connect() for _ in range(count)]
        if length == 1:
            return customers
        template: list[dict[str, Any]] | None = None
        for index, customer in enumerate(customers):
            await self.turn(customer, "ciao")
            sender = await self.customer_id(customer)
            if template is None:
                template = await self.prefill_template(client, sender)
            if length > 2:
                await self.prefill(client, sender, template, length - 2)
            if (index + 1) % 10 == 0 or index + 1 == count:
                say(f"    {index + 1}/{count} customers at turn {length - 1}")
        return customers


@dataclass
class Questions:
    """Stock questions that name a product, colour, size and city of the loaded catalog."""

    texts: list[str]

    @classmethod
    def load(cls, database: Path, count: int, seed: int) -> Questions:
        import sqlite3

        conn = sqlite3.connect(database)
        try:
            products = conn.execute(
                "SELECT p.name_it, v.colour, v.size FROM variants v "
                "JOIN products p ON p.id = v.product_id ORDER BY v.id"
            ).fetchall()
            cities = [row[0] for row in conn.execute("SELECT DISTINCT city FROM stores")]
        finally:
            conn.close()
        rng = random.Random(seed)
        texts = []
        for _ in range(count):
            name, colour, size = rng.choice(products)
            texts.append(
                f"avete {name.lower()} {colour} taglia {size} a {rng.choice(cities)}?"
            )
        return cls(texts)


# --- py-spy -------------------------------------------------------------------------------


def start_py_spy(
    pid: int, seconds: int, out: Path, idle: bool, blocking: bool = False
) -> subprocess.Popen[bytes]:
    """``--nonblocking`` leaves the process running while it is read (no pauses), at the
    price of py-spy's own idle detection: then :func:`is_idle` judges by the stack."""
    command = [
        str(PY_SPY), "record", "--format", "raw", "--rate", str(RATE),
        "--pid", str(pid), "--duration", str(seconds), "-o", str(out),
    ]
    if not blocking:
        command.append("--nonblocking")
    if idle:
        command.append("--idle")
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def stop_py_spy(spy: subprocess.Popen[bytes]) -> None:
    """End a recording early: py-spy writes what it has on SIGINT."""
    if spy.poll() is None:
        spy.send_signal(signal.SIGINT)
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()


# --- one configuration ----------------------------------------------------------------------


@dataclass
class Result:
    catalog: int
    length: int
    turns: int
    small_talk: Phase
    stock: Phase
    samples: dict[str, Counter[tuple[str, str]]]  # (stage, library) → samples
    spied: Phase  # the turns under py-spy: their CPU checks the samples
    stock_answered: int  # stock questions that ran action_check_stock
    idle_rate: dict[str, float]  # ms/s of CPU subtracted as background
    example: tuple[str, str] = ("", "")  # a stock question and the first reply
    steps: Counter[str] = field(default_factory=Counter)  # Rasa's samples by step

    def stage_samples(self, name: str) -> Counter[str]:
        counts: Counter[str] = Counter()
        for (stage, _), n in self.samples.get(name, Counter()).items():
            counts[stage] += n
        return counts

    @property
    def total_turns(self) -> int:
        return self.small_talk.turns + self.stock.turns

    def cpu(self, name: str) -> float:
        """CPU ms per turn of one process, over both kinds of turn."""
        return (self.small_talk.cpu_ms[name] + self.stock.cpu_ms[name]) / self.total_turns

    def stage_ms(self) -> dict[str, float]:
        """CPU ms per turn by stage: each process's CPU split by its samples' shares.

        Rasa's threads other than the event loop are TensorFlow's pool, which py-spy does
        not see (no Python frames): their CPU goes to NLU (DIET is the only TensorFlow
        model; there is no TEDPolicy), and the main thread's is split by the samples.
        """
        stages = dict.fromkeys(STAGES, 0.0)
        for name in (GATEWAY, RASA, ACTIONS):
            cpu = self.cpu(name)
            if name == RASA:
                native = min(cpu, self.rasa_other_threads())
                stages["Rasa NLU"] += native
                cpu -= native
            counts = {k: v for k, v in self.stage_samples(name).items() if k != IDLE}
            busy = sum(counts.values())
            for stage, n in counts.items():
                stages[stage] += cpu * n / busy if busy else 0.0
            if not busy:
                fallback = {GATEWAY: "gateway", RASA: "Rasa other",
                            ACTIONS: "action server (SDK/HTTP)"}[name]
                stages[fallback] += cpu
        return stages

    def rasa_other_threads(self) -> float:
        """CPU ms per turn of Rasa's threads other than the event loop."""
        phases = (self.small_talk, self.stock)
        return sum(p.rasa_other_threads_ms for p in phases) / self.total_turns

    def latencies(self) -> list[float]:
        return self.small_talk.latencies + self.stock.latencies

    def libraries(self, name: str, top: int = 6) -> list[tuple[str, float]]:
        """CPU ms per turn of the process by the library its samples were in."""
        by_library: Counter[str] = Counter()
        for (stage, library), n in self.samples.get(name, Counter()).items():
            if stage != IDLE:
                by_library[library] += n
        busy = sum(by_library.values())
        return [(lib, self.cpu(name) * n / busy) for lib, n in by_library.most_common(top)]


async def run_length(
    bench: Bench, catalog: int, length: int, turns: int, questions: Questions, args: Any,
    raw_dir: Path | None,
) -> Result:
    async with httpx.AsyncClient(timeout=60) as client:
        half = max(1, turns // 2)
        say(f"  length {length}: preparing {2 * half + turns} customers"
            f" ({'first turn' if length == 1 else f'{length - 1} turns each'})")
        talk_customers = await bench.customers_at(client, half, length)
        stock_customers = await bench.customers_at(client, half, length)
        spy_customers = await bench.customers_at(client, turns, length)

        phases = []
        example = ("", "")
        for kind, customers, texts in (
            ("small talk", talk_customers, SMALL_TALK),
            ("stock", stock_customers, questions.texts),
        ):
            say(f"  length {length}: measuring {len(customers)} {kind} turns")
            before = await bench.snapshot(client)
            latencies = []
            for i, customer in enumerate(customers):
                elapsed, reply = await bench.turn(customer, texts[i % len(texts)])
                latencies.append(elapsed)
                if kind == "stock" and i == 0:
                    example = (texts[0], reply)
            after = await bench.snapshot(client)
            phases.append(bench.phase(before, after, len(customers), latencies))
        stock_answered = 0
        for customer in stock_customers:
            sender = await bench.customer_id(customer)
            response = await client.get(
                f"{bench.rasa_url}/conversations/{sender}/tracker",
                params={"token": bench.stack.token, "include_events": "AFTER_RESTART"},
            )
            events = response.json()["events"]
            last_user = max(i for i, e in enumerate(events) if e.get("event") == "user")
            events = events[last_user:]
            stock_answered += any(e.get("name") == "action_check_stock" for e in events)

        estimate = phases[0].seconds + phases[1].seconds
        seconds = int(estimate * 2 + 20)
        say(f"  length {length}: {turns} mixed turns under py-spy ({RATE} Hz, ≤{seconds}s)")
        folder = raw_dir or Path(tempfile.mkdtemp(prefix="vetrina-pyspy-"))
        spies = {
            name: start_py_spy(
                p.main, seconds, folder / f"{catalog}-{length}-{name}.txt", args.idle,
                args.blocking,
            )
            for name, p in bench.processes.items()
        }
        await asyncio.sleep(1.5)  # py-spy attaches
        before = await bench.snapshot(client)
        spied_latencies = []
        for i, customer in enumerate(spy_customers):
            text = SMALL_TALK[i % len(SMALL_TALK)] if i % 2 == 0 else questions.texts[-1 - i]
            spied_latencies.append((await bench.turn(customer, text))[0])
        spied = bench.phase(before, await bench.snapshot(client), turns, spied_latencies)
        samples = {}
        steps: Counter[str] = Counter()
        for name, spy in spies.items():
            stop_py_spy(spy)
            path = folder / f"{catalog}-{length}-{name}.txt"
            try:
                raw = path.read_text().splitlines()
                waits = () if args.blocking else WAITS
                samples[name] = tally(name, raw, waits)
                if name == RASA:
                    steps = samples_by_step(raw, waits)
            except OSError:
                error = spy.stderr.read().decode(errors="replace") if spy.stderr else ""
                say(f"  py-spy wrote nothing for {name}: {error.strip()[-300:]}")
                samples[name] = Counter()
        if raw_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
        for customer in talk_customers + stock_customers + spy_customers:
            await customer.close()
    return Result(
        catalog, length, turns, phases[0], phases[1], samples, spied, stock_answered,
        dict(bench.idle_rate), example, steps,
    )


def load_catalog(var: Path, database_url: str, variants: int, seed: int) -> str:
    """Fill the stack's database; returns what was loaded, in words."""
    if variants == DEMO_VARIANTS:
        from vetrina.catalog.demo import load_demo
        from vetrina.storage.database import Database

        async def load() -> None:
            db = Database(database_url)
            try:
                await load_demo(db)
            finally:
                await db.dispose()

        asyncio.run(load())
        return "the demo retailer (`vetrina demo`)"
    from bench.stock import Catalog, build_sqlite

    catalog = Catalog(variants, 200, 0.10, seed)
    build_sqlite(var / "vetrina.db", catalog)
    return (
        f"bench/stock.py's generated catalog ({catalog.products:,} products, "
        f"{catalog.store_count} stores, {catalog.stock_count:,} stock rows)"
    )


def count_of(database: Path, table: str) -> int:
    import sqlite3

    conn = sqlite3.connect(database)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
    finally:
        conn.close()


def run_catalog(variants: int, args: Any, out: list[str]) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="vetrina-bench-") as folder:
        var = Path(folder)
        database_url = f"sqlite+aiosqlite:///{var / 'vetrina.db'}"
        from vetrina.storage.migrate import upgrade

        say(f"catalog {variants:,}: migrating and loading the catalog…")
        started = time.perf_counter()
        upgrade(database_url)
        what = load_catalog(var, database_url, variants, args.seed)
        loaded = count_of(var / "vetrina.db", "variants")
        say(f"catalog {variants:,}: {loaded:,} variants loaded ({what}) in "
            f"{time.perf_counter() - started:.0f}s")
        probe = None
        if not args.no_probe:  # kept with py-spy's output when --keep-raw names a folder
            probe = Path(args.keep_raw) / f"probe-{variants}" if args.keep_raw else var / "probe"
        env = {"DATABASE_URL": database_url, "VETRINA_LOG_LEVEL": "WARNING"}
        if args.without_speedups:
            env["VETRINA_RASA_SPEEDUPS"] = "0"
        if probe is not None:
            probe.mkdir(parents=True, exist_ok=True)
            env["VETRINA_BENCH_PROBE"] = str(probe)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(PROBE), os.environ.get("PYTHONPATH", "")) if p
            )
        stack = Stack(
            Ports(gateway=free_port(), rasa=free_port(), actions=free_port()),
            var=var,
            extra_env=env,
        )
        services = {ACTIONS: stack.actions(), RASA: stack.rasa(), GATEWAY: stack.gateway()}
        say(f"catalog {variants:,}: starting Rasa, action server and gateway…")
        try:
            for service in services.values():
                service.start()
            for service in services.values():
                service.wait_ready(timeout=300)
            bench = Bench(
                stack, {n: Process(n, s) for n, s in services.items()}, database_url, probe
            )
            questions = Questions.load(var / "vetrina.db", 2000, args.seed)
            out.append(f"\n### Catalog: {loaded:,} variants — {what}\n")
            return asyncio.run(measure_catalog(bench, variants, args, questions))
        finally:
            for service in reversed(list(services.values())):
                service.stop()


async def measure_catalog(
    bench: Bench, variants: int, args: Any, questions: Questions
) -> list[Result]:
    async with httpx.AsyncClient(timeout=60) as client:
        say(f"catalog {variants:,}: warming up (small talk and stock questions)…")
        warm = await bench.customers_at(client, 1, 1)
        for text in [*SMALL_TALK[:3], *questions.texts[:4]]:
            await bench.turn(warm[0], text)
        await warm[0].close()
        for process in bench.processes.values():
            process.find_main()
        say(f"catalog {variants:,}: idle background for {args.idle_seconds:.0f}s…")
        await bench.measure_idle(client, args.idle_seconds)
        say("  idle CPU (subtracted from every phase): " + ", ".join(
            f"{n} {r:.1f} ms/s" for n, r in bench.idle_rate.items()))
    raw_dir = Path(args.keep_raw) if args.keep_raw else None
    if raw_dir:
        raw_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for length in args.lengths:
        result = await run_length(bench, variants, length, args.turns, questions, args, raw_dir)
        for line in table(result):
            print(line, flush=True)
        results.append(result)
    return results


# --- reporting ------------------------------------------------------------------------------


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def table(result: Result) -> list[str]:
    stages = result.stage_ms()
    total = sum(stages.values())
    lines = [
        "",
        f"#### {result.catalog:,} variants · conversation length {result.length} · "
        f"{result.total_turns} measured turns ({result.small_talk.turns} small talk, "
        f"{result.stock.turns} stock questions; {result.stock_answered}/{result.stock.turns} "
        "ran action_check_stock) + "
        f"{result.turns} mixed turns under py-spy",
        "",
        "| stage | CPU ms/turn | share |",
        "|---|---:|---:|",
    ]
    for stage, ms in stages.items():
        share = f"{ms / total:.1%}" if total else ""
        lines.append(f"| {stage} | {ms:.1f} | {share} |")
    lines.append(f"| **total** | **{total:.1f}** | 100 % |")
    lat = [x * 1000 for x in result.latencies()]
    talk = [x * 1000 for x in result.small_talk.latencies]
    stock = [x * 1000 for x in result.stock.latencies]
    lines += [
        "",
        f"- wall per turn (message → first reply): p50 {percentile(lat, 50):.0f} ms, "
        f"p99 {percentile(lat, 99):.0f} ms; small talk p50 {percentile(talk, 50):.0f} / "
        f"p99 {percentile(talk, 99):.0f} ms, stock p50 {percentile(stock, 50):.0f} / "
        f"p99 {percentile(stock, 99):.0f} ms",
        "- wall, mean per turn: message → first reply / of which Rasa's HTTP turn (the "
        "gateway's own `vetrina_rasa_latency_seconds`, actions included) / the rest "
        f"(gateway, socket.io, queueing): small talk {mean(talk):.0f} / "
        f"{result.small_talk.rasa_latency_ms:.0f} / "
        f"{mean(talk) - result.small_talk.rasa_latency_ms:.0f} ms, stock {mean(stock):.0f} / "
        f"{result.stock.rasa_latency_ms:.0f} / {mean(stock) - result.stock.rasa_latency_ms:.0f} ms",
        "- CPU ms/turn by kind (small talk / stock): " + ", ".join(
            f"{n} {result.small_talk.per_turn(n):.1f} / {result.stock.per_turn(n):.1f}"
            for n in (GATEWAY, RASA, ACTIONS)
        ),
    ]
    main = result.small_talk.rasa_main_ms + result.stock.rasa_main_ms
    others = result.small_talk.rasa_other_threads_ms + result.stock.rasa_other_threads_ms
    threads: Counter[str] = Counter(result.small_talk.rasa_threads)
    threads.update(result.stock.rasa_threads)
    lines.append(
        f"- Rasa threads: main (event loop) {main / result.total_turns:.1f} ms/turn, other "
        f"threads {others / result.total_turns:.1f} ms/turn ("
        + ", ".join(f"{n} {ms / result.total_turns:.1f}" for n, ms in threads.most_common(4))
        + "; counted as NLU)"
    )
    calls = {
        kind: ", ".join(f"{action} {n / phase.turns:.1f}" for action, n in sorted(
            phase.action_calls.items(), key=lambda item: -item[1]))
        for kind, phase in (("small talk", result.small_talk), ("stock", result.stock))
    }
    lines.append(
        f"- action server calls per turn: small talk {calls['small talk'] or 'none'}; "
        f"stock {calls['stock'] or 'none'}"
    )
    sql = []
    for name in (GATEWAY, RASA, ACTIONS):
        counts = Counter(result.small_talk.sql.get(name, {}))
        counts.update(result.stock.sql.get(name, {}))
        per_turn = {key: n / result.total_turns for key, n in counts.items()}
        if not per_turn.get("statements"):
            continue
        top = sorted(
            ((n, key) for key, n in per_turn.items() if " " in key and n), reverse=True
        )[:6]
        sql.append(
            f"{name} {per_turn['statements']:.1f} statements and "
            f"{per_turn.get('commits', 0):.1f} commits ("
            + ", ".join(f"{key} {n:.1f}" for n, key in top) + ")"
        )
    if sql:
        lines.append("- SQL per turn: " + "; ".join(sql))
    collector = []
    for name in (GATEWAY, RASA, ACTIONS):
        counts = Counter(result.small_talk.sql.get(name, {}))
        counts.update(result.stock.sql.get(name, {}))
        total_us = sum(counts.get(f"gc_us_gen{g}", 0) for g in range(3))
        if total_us:
            collector.append(
                f"{name} {total_us / 1000 / result.total_turns:.1f} ms (full collections "
                f"{counts.get('gc_runs_gen2', 0) / result.total_turns:.2f}/turn, "
                f"{counts.get('gc_us_gen2', 0) / 1000 / result.total_turns:.1f} ms)"
            )
    if collector:
        lines.append("- garbage collector, wall ms per turn (inside the stages above): "
                     + "; ".join(collector))
    spy = []
    for name in (GATEWAY, RASA, ACTIONS):
        stage_counts = result.stage_samples(name)
        busy = sum(v for k, v in stage_counts.items() if k != IDLE)
        spy.append(
            f"{name} {busy} busy ≈ {busy * 1000 / RATE / result.turns:.1f} ms/turn against "
            f"{result.spied.per_turn(name):.1f} ms/turn measured ({stage_counts[IDLE]} idle)"
        )
    lines.append("- py-spy check, busy samples × 5 ms against /proc during the same turns: "
                 + "; ".join(spy))
    busy_steps = sum(result.steps.values())
    if busy_steps:
        main_cpu = result.cpu(RASA) - min(result.cpu(RASA), result.rasa_other_threads())
        lines.append(
            "- Rasa CPU ms/turn by step of `handle_message` (event loop only): " + ", ".join(
                f"{step} {main_cpu * n / busy_steps:.1f}"
                for step, n in result.steps.most_common()
            )
        )
    for name in (GATEWAY, RASA, ACTIONS):
        parts = ", ".join(f"{lib} {ms:.1f}" for lib, ms in result.libraries(name))
        lines.append(f"- {name} CPU ms/turn by innermost library: {parts}")
    lines.append("- idle CPU subtracted: " + ", ".join(
        f"{n} {r:.1f} ms/s" for n, r in result.idle_rate.items()))
    question, reply = result.example
    if question:
        lines.append(f"- e.g. “{question}” → “{reply[:160]}”")
    return lines


def summary(results: Sequence[Result]) -> list[str]:
    short = {
        "gateway": "gateway", "Rasa NLU": "NLU", "Rasa policies": "policies",
        "Rasa tracker store": "tracker", "Rasa other": "Rasa other",
        "action server (SDK/HTTP)": "actions SDK", "action server DB": "actions DB",
        "stock resolver": "resolver",
    }
    lines = [
        "",
        "### Summary: CPU ms per turn by stage",
        "",
        "| catalog | length | " + " | ".join(short[s] for s in STAGES)
        + " | total | wall p50 | wall p99 |",
        "|---|---:|" + "---:|" * (len(STAGES) + 3),
    ]
    for r in results:
        stages = r.stage_ms()
        lat = [x * 1000 for x in r.latencies()]
        lines.append(
            f"| {r.catalog:,} | {r.length} | "
            + " | ".join(f"{stages[s]:.1f}" for s in STAGES)
            + f" | **{sum(stages.values()):.1f}** | {percentile(lat, 50):.0f} ms"
            f" | {percentile(lat, 99):.0f} ms |"
        )
    return lines


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.node()}: {os.cpu_count()} cores ({cpu}), Linux {platform.release()}, "
            f"Python {platform.python_version()}; load average at start {load}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, help="measured turns per phase (default 30)")
    parser.add_argument("--lengths", help="conversation lengths (default 1,50,200)")
    parser.add_argument("--catalogs", help="catalog sizes in variants (default 4000,100000)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: defaults become 6 turns, lengths 1,10, the demo catalog")
    parser.add_argument("--idle", action="store_true",
                        help="let py-spy sample idle threads too (counted apart)")
    parser.add_argument("--idle-seconds", type=float, help="idle background measured for")
    parser.add_argument("--blocking", action="store_true",
                        help="py-spy pauses each process to sample it (no --nonblocking)")
    parser.add_argument("--without-speedups", action="store_true",
                        help="Rasa without run_rasa.py's speed_ups (memoised event types, "
                             "one jsonschema validator): the before of that cut")
    parser.add_argument("--no-probe", action="store_true", help="do not count SQL statements")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-raw", help="keep py-spy's raw output in this folder")
    parser.add_argument("--out", help=f"write the report here (e.g. {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args()
    quick = args.quick
    args.turns = args.turns or (6 if quick else 30)
    args.lengths = args.lengths or ("1,10" if quick else "1,50,200")
    args.catalogs = args.catalogs or ("4000" if quick else "4000,100000")
    args.idle_seconds = args.idle_seconds or (3.0 if quick else 8.0)
    args.lengths = [int(x) for x in args.lengths.split(",")]
    catalogs = [int(x) for x in args.catalogs.split(",")]
    if args.turns < 2 or min(args.lengths) < 1 or min(catalogs) < 10:
        parser.error("need --turns ≥ 2, lengths ≥ 1 and catalogs ≥ 10 variants")
    if not PY_SPY.exists():
        parser.error(f"py-spy is not installed at {PY_SPY}: pip install -e '.[dev]'")

    started = datetime.now(timezone.utc)
    report = [
        "# What a turn costs (`bench/turn_cost.py`)",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC on {machine()}.",
        f"Command: `{' '.join(['bench/turn_cost.py', *sys.argv[1:]])}`",
    ]
    results: list[Result] = []
    for variants in catalogs:
        results += run_catalog(variants, args, report)
        report += [line for r in results if r.catalog == variants for line in table(r)]
    report += summary(results)
    ended = datetime.now(timezone.utc)
    report.append(
        f"\nEnded {ended:%H:%M} UTC; load average then "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
        + " (other work on the machine competes with the measured processes)."
    )
    for line in summary(results):
        print(line)
    if args.out:
        Path(args.out).write_text("\n".join(report) + "\n", encoding="utf-8")
        say(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
