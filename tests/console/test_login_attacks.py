"""The console-login attacks of issue 17 (part 2), each reproduced and now refused.

- Shared proxy: behind a reverse proxy everyone had one address, so a stranger's wrong
  passwords locked every consultant out. Now the address is the client's (from trusted
  proxies only) and delays are per account *and* address pair.
- Concurrency: 40 concurrent wrong passwords ran 22 password checks against a limit of
  5 (lost updates). Now each attempt is reserved atomically before the check.
- Event loop: argon2 on the loop pushed /healthz to 290 ms p50 under 30 failed logins.
- Last resort: an account-wide lock, visible to admins, who can lift it.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import threading
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from tests.fakes import FakeAssistant
from vetrina.conversations.consultants import Role, create_consultant
from vetrina.conversations.login_failures import Rule, SqlFailureCounter
from vetrina.gateway.app import init_app
from vetrina.gateway.console import credentials
from vetrina.gateway.console.login_guard import PAIR
from vetrina.gateway.keys import CONSOLE
from vetrina.settings import Settings
from vetrina.storage.database import Database

PASSWORD = "console password 1"
PROXY = "127.0.0.1"  # the test client connects from here: it plays the reverse proxy


@dataclass
class Gate:
    """The gateway, its guard on a clock the test moves (real time would let delays
    run out between two sequential attempts on a slow machine)."""

    server: TestServer
    db: Database
    now: list[float]

    async def client(self) -> TestClient:
        client = TestClient(self.server)
        await client.start_server()
        return client

    async def login(
        self, client: TestClient, email: str, password: str, forwarded_for: str | None = None
    ) -> aiohttp.ClientResponse:
        """One login through the form, as a browser does it (fresh CSRF each time)."""
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        page = await client.get("/console/login", headers=headers)
        csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert csrf is not None
        return await client.post(
            "/console/login", data={"csrf": csrf.group(1), "email": email, "password": password},
            headers=headers, allow_redirects=False,
        )


async def _gate(db: Database, **settings: object) -> AsyncIterator[Gate]:
    server = TestServer(
        init_app(
            Settings(database_url=db.url, rasa_url="http://127.0.0.1:9", **settings),  # type: ignore[arg-type]
            assistant=FakeAssistant(),
        )
    )
    await server.start_server()
    now = [1_000_000.0]
    server.app[CONSOLE].guard.clock = lambda: now[0]
    await create_consultant(db, "mi@example.com", "Mara", PASSWORD, stores=["MI"])
    await create_consultant(db, "admin@example.com", "Ada", PASSWORD, role=Role.ADMIN)
    try:
        yield Gate(server, db, now)
    finally:
        await server.close()


@pytest_asyncio.fixture
async def behind_proxy(db: Database) -> AsyncIterator[Gate]:
    async for gate in _gate(db, trusted_proxies=(PROXY,)):
        yield gate


@pytest_asyncio.fixture
async def direct(db: Database) -> AsyncIterator[Gate]:
    async for gate in _gate(db):
        yield gate


async def test_a_stranger_behind_the_shared_proxy_cannot_lock_a_consultant_out(
    behind_proxy: Gate,
) -> None:
    gate = behind_proxy
    attacker, consultant = await gate.client(), await gate.client()
    try:
        statuses = [
            (await gate.login(attacker, "mi@example.com", "guess", "203.0.113.9")).status
            for _ in range(15)
        ]
        assert statuses.count(401) == PAIR.free + 1 and statuses[-1] == 429
        # Another stranger's guesses at other accounts do not slow this one down either.
        for _ in range(5):
            await gate.login(attacker, "someone@example.com", "guess", "203.0.113.10")
        ok = await gate.login(consultant, "mi@example.com", PASSWORD, "198.51.100.7")
        assert ok.status == 302 and ok.headers["Location"] == "/console"
        # The attacker's pair stays slowed down.
        assert (await gate.login(attacker, "mi@example.com", PASSWORD, "203.0.113.9")).status == 429
    finally:
        await attacker.close()
        await consultant.close()


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(direct: Gate) -> None:
    """Without VETRINA_TRUSTED_PROXIES a client cannot pick a new address per guess."""
    client = await direct.client()
    try:
        statuses = [
            (await direct.login(client, "mi@example.com", "guess", f"198.51.100.{n}")).status
            for n in range(1, 11)
        ]
        assert statuses.count(401) == PAIR.free + 1 and statuses[-1] == 429
    finally:
        await client.close()


async def test_40_concurrent_wrong_passwords_get_only_the_allowed_checks(
    behind_proxy: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    if behind_proxy.db.is_sqlite:
        pytest.skip("the race needs concurrent writers: PostgreSQL")
    checks = []
    real_verify = credentials._verify

    def counting_verify(password_hash: str, password: str) -> bool:
        checks.append(password)
        return real_verify(password_hash, password)

    monkeypatch.setattr(credentials, "_verify", counting_verify)
    clients = [await behind_proxy.client() for _ in range(40)]
    try:
        # Each client fetches its CSRF first, then all 40 posts race.
        forms = []
        for client in clients:
            page = await client.get("/console/login", headers={"X-Forwarded-For": "203.0.113.9"})
            forms.append(re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1))  # type: ignore[union-attr]

        async def guess(client: TestClient, csrf: str, n: int) -> int:
            response = await client.post(
                "/console/login",
                data={"csrf": csrf, "email": "mi@example.com", "password": f"guess {n}"},
                headers={"X-Forwarded-For": "203.0.113.9"}, allow_redirects=False,
            )
            return response.status

        statuses = await asyncio.gather(
            *(guess(client, csrf, n)
              for n, (client, csrf) in enumerate(zip(clients, forms, strict=True)))
        )
    finally:
        for client in clients:
            await client.close()
    assert sorted(set(statuses)) == [401, 429]
    assert statuses.count(401) == PAIR.free + 1 == len(checks)


async def test_failure_counting_is_atomic_in_the_database(db: Database) -> None:
    """The counter itself, 40 concurrent hits: exactly ``free + 1`` get through."""
    counter = SqlFailureCounter(db)
    rule = Rule(free=4, first=60.0, most=60.0, window=3600.0)
    hits = await asyncio.gather(
        *(counter.hit("pair:x@example.com|203.0.113.9", rule, 1000.0, only_if_open=True)
          for _ in range(40))
    )
    assert sum(hit.admitted for hit in hits) == rule.free + 1
    assert max(hit.failures for hit in hits) == rule.free + 1
    assert await counter.blocked_until("pair:x@example.com|203.0.113.9") == 1060.0


async def test_healthz_stays_fast_during_30_concurrent_failed_logins(behind_proxy: Gate) -> None:
    if not behind_proxy.db.is_sqlite:
        pytest.skip("latency of the event loop: one database is enough")
    gate = behind_proxy
    probe = await gate.client()
    attackers = [await gate.client() for _ in range(30)]
    try:
        forms = []
        for n, client in enumerate(attackers):  # 30 addresses: every guess is really checked
            forwarded = {"X-Forwarded-For": f"203.0.113.{n + 1}"}
            page = await client.get("/console/login", headers=forwarded)
            forms.append(re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1))  # type: ignore[union-attr]

        url = str(probe.make_url("/healthz"))

        def health_latencies(stop: threading.Event | None, count: int) -> list[float]:
            """Probes from another thread: the server's loop is measured from outside."""
            found: list[float] = []
            while (stop is None and len(found) < count) or (stop is not None and not stop.is_set()):
                started = time.perf_counter()
                with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (local)
                    assert response.status == 200
                found.append(time.perf_counter() - started)
                time.sleep(0.01)
            return found

        baseline = await asyncio.to_thread(health_latencies, None, 30)
        started = time.perf_counter()  # one password check, in this run, on this machine
        assert await credentials.check_password(gate.db, "mi@example.com", "guess") is None
        one_check = time.perf_counter() - started
        stop = threading.Event()
        probing = asyncio.create_task(asyncio.to_thread(health_latencies, stop, 0))

        async def guess(n: int) -> int:
            response = await attackers[n].post(
                "/console/login",
                data={"csrf": forms[n], "email": "mi@example.com", "password": "guess"},
                headers={"X-Forwarded-For": f"203.0.113.{n + 1}"}, allow_redirects=False,
            )
            return response.status

        attack_started = time.perf_counter()
        statuses = await asyncio.gather(*(guess(n) for n in range(30)))
        attack = time.perf_counter() - attack_started
        stop.set()
        loaded = await probing
    finally:
        await probe.close()
        for client in attackers:
            await client.close()
    assert statuses == [401] * 30  # all were checked: the load was real
    p50, worst = statistics.median(loaded), max(loaded)
    # The share of the attack during which /healthz was kept waiting (probes slower than
    # 200 ms): on the event loop every check held the loop, so it was most of the attack.
    stalled = sum(latency for latency in loaded if latency > 0.2) / attack
    print(f"/healthz idle p50 {statistics.median(baseline) * 1000:.1f} ms; under 30 failed "
          f"logins p50 {p50 * 1000:.1f} ms, max {worst * 1000:.1f} ms over {len(loaded)} "
          f"probes, stalled {stalled:.0%} of {attack:.1f} s; one check {one_check * 1000:.0f} ms")
    # Measured here (2 cores, heavily loaded): on the loop 85 % stalled, in the pool 3-33 %.
    assert len(loaded) >= 10
    assert stalled < 0.5


async def test_the_account_lock_is_a_last_resort_admins_see_and_lift(behind_proxy: Gate) -> None:
    gate = behind_proxy
    guard = gate.server.app[CONSOLE].guard
    guard.account = Rule(free=5, first=900.0, most=900.0, window=3600.0)  # small for the test
    client, admin = await gate.client(), await gate.client()
    try:
        for n in range(6):  # a distributed guess: one address each
            response = await gate.login(client, "mi@example.com", "guess", f"203.0.113.{n + 1}")
            assert response.status == 401
        locked = await gate.login(client, "mi@example.com", PASSWORD, "198.51.100.7")
        assert locked.status == 429 and "amministratore" in await locked.text()  # Italian by default
        assert int(locked.headers["Retry-After"]) > 800

        signed_in = await gate.login(admin, "admin@example.com", PASSWORD, "198.51.100.8")
        assert signed_in.status == 302
        csrf = (await (await admin.get("/console/api/me")).json())["csrf_token"]
        locks = await (await admin.get("/console/api/admin/login-locks")).json()
        assert [lock["email"] for lock in locks["locked"]] == ["mi@example.com"]
        assert locks["locked"][0]["failures"] == 6
        # A consultant may not see or lift locks.
        unlocked = await admin.post(
            "/console/api/admin/login-locks/unlock", json={"email": "mi@example.com"},
            headers={"X-CSRF-Token": csrf},
        )
        assert unlocked.status == 200
        assert (await (await admin.get("/console/api/admin/login-locks")).json())["locked"] == []
        ok = await gate.login(client, "mi@example.com", PASSWORD, "198.51.100.7")
        assert ok.status == 302
        mara_locks = await client.get("/console/api/admin/login-locks")
        assert mara_locks.status == 403
        assert (await mara_locks.json())["error"]["code"] == "admins_only"
    finally:
        await client.close()
        await admin.close()


async def test_failure_counting_is_atomic_in_redis_too() -> None:
    """With REDIS_URL the same contract holds across instances: one Lua step per hit."""
    import redis.asyncio as redis

    from tests.conftest import skip_or_fail
    from vetrina.gateway.console.redis_failures import RedisFailureCounter

    url = "redis://127.0.0.1:6379/0"
    try:
        await redis.Redis.from_url(url).ping()
    except (OSError, redis.RedisError):
        skip_or_fail("Redis not reachable at 127.0.0.1:6379")
    counter = RedisFailureCounter(url)
    key = f"pair:x@example.com|203.0.113.{time.monotonic_ns() % 250}-{time.time_ns()}"
    rule = Rule(free=4, first=60.0, most=60.0, window=3600.0)
    try:
        hits = await asyncio.gather(
            *(counter.hit(key, rule, 1000.0, only_if_open=True) for _ in range(40))
        )
        assert sum(hit.admitted for hit in hits) == rule.free + 1
        assert await counter.blocked_until(key) == 1060.0
        account = "account:" + key
        for _ in range(5):
            await counter.hit(account, rule, 1000.0, only_if_open=False)
        [block] = [b for b in await counter.blocks("account:", 1001.0) if b.key == account]
        assert (block.failures, block.blocked_until) == (5, 1060.0)
        await counter.clear(account)
        assert account not in [b.key for b in await counter.blocks("account:", 1001.0)]
    finally:
        await counter.clear(key)
        await counter.close()
