"""The production topology under load loses nothing when parts of it fail.

Two gateways, two Rasa servers, the action server and the proxy (``scripts/prod.py``) on
a throwaway PostgreSQL and Redis, with fake Twilio and Meta; web, WhatsApp and Instagram
customers keep writing (``bench/load.py``) while, one after another:

- one gateway is killed with SIGKILL, then started again;
- one Rasa server is killed with SIGKILL, then started again (it reloads the model);
- both fake providers answer HTTP 500 for a while;
- PostgreSQL is restarted;
- Redis is restarted.

At the end every customer message is stored once and answered, every reply reached its
customer exactly once (counted from the database and from what the web clients and the
fake providers received), and no customer saw an error. Web replies are counted at the
client (each reply id shown on the customer's screen, which confirms it with
``vetrina_seen`` as the widget does) and in the database (``messages.seen_at``): a reply
emitted while Redis restarts, to a socket that stays connected, must still reach the
screen. Bounded: about 3-4 minutes.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from bench.load import Load, Providers, account, gateway_env, settled
from scripts.prod import TempPostgres, TempRedis, Topology, free_port, postgres_bin
from scripts.stack import MODEL, RASA_BIN
from tests.conftest import skip_or_fail

# Rasa's restart (model load) is the long pole; on a busy 2-core machine it alone can take
# minutes (topology start ~5 min and a Rasa restart ~3 min seen at load 17), hence the
# generous bound.
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(900)]


def _missing() -> str | None:
    if not RASA_BIN.exists():
        return f"Rasa is not installed at {RASA_BIN}: run `make setup`"
    if not MODEL.exists():
        return f"no trained model at {MODEL}: run `make train`"
    if postgres_bin() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    return None


async def test_kills_and_restarts_under_load_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    reason = _missing()
    if reason:
        skip_or_fail(reason)
    postgres = TempPostgres().start()
    redis = TempRedis(tmp_path / "redis").start()
    providers = await Providers().start()
    providers.twilio.statuses = ()
    topology = Topology(tmp_path / "var", postgres.admin_url, redis.url, instances=2,
                        proxy_port=free_port(), extra_env=gateway_env(providers))
    events: list[str] = []
    started = time.monotonic()

    def note(what: str) -> None:  # printed at once too: a timeout still shows how far it got
        events.append(f"{time.monotonic() - started:6.1f}s {what}")
        print(events[-1], flush=True)

    try:
        await asyncio.to_thread(topology.prepare)
        await asyncio.to_thread(topology.start)
        note("topology up")
        # Customers who pause 2 s after each reply: the load outlasts every failure below.
        load = Load(topology.public_url, providers, customers=3, messages=8, timeout=240, pause=2.0)
        running = asyncio.create_task(load.run())
        overlapped: list[bool] = []

        async def chaos() -> None:
            gateway, rasa = topology.gateways[0], topology.rasas[1]
            await asyncio.sleep(2)
            providers.twilio.fail_next(times=6, status=500)
            providers.meta.fail_next(times=6, status=500)
            note("providers: next 6 sends each answer 500")
            await asyncio.sleep(1)
            gateway.stop(kill=True)
            note("gateway-1 killed (SIGKILL)")
            await asyncio.sleep(1)
            rasa.stop(kill=True)
            note("rasa-2 killed (SIGKILL)")
            rasa_back = asyncio.create_task(asyncio.to_thread(topology.restart, rasa, 300))
            await asyncio.sleep(2)
            await asyncio.to_thread(topology.restart, gateway, 60)
            note("gateway-1 restarted")
            await asyncio.sleep(1)
            await asyncio.to_thread(postgres.restart)
            note("PostgreSQL restarted")
            await asyncio.sleep(2)
            redis.stop()
            note("Redis stopped")
            await asyncio.sleep(1)
            redis.start()
            note("Redis started")
            overlapped.append(not running.done())
            await rasa_back
            note("rasa-2 restarted")

        await asyncio.gather(running, chaos())
        note("load finished")
        assert await settled(topology.database_url, 120), "work still pending after 120 s"
        accounting = await account(topology.database_url, load)
        note("settled and counted")
        print(accounting.line())
        for line in accounting.details + load.errors:
            print("  !", line)
        assert overlapped == [True], "the load ended before the failures did"
        assert providers.twilio.create_requests > len(providers.twilio.messages)  # 500s seen
        assert providers.meta.send_requests > len(providers.meta.sent)
        assert accounting.inbound_sent == 3 * 3 * 8
        assert accounting.inbound_stored == accounting.inbound_sent
        assert accounting.inbound_unanswered == 0
        assert accounting.lost == 0, accounting.details
        assert accounting.duplicated == 0, accounting.details
        assert load.errors == []
        # Web, at the client and in the database: every reply shown, every one confirmed.
        assert accounting.web_replies > 0
        assert len(load.web_shown) >= accounting.web_replies
        assert accounting.web_confirmed == accounting.web_replies, accounting.details
    finally:
        await asyncio.to_thread(topology.stop)
        await providers.close()
        redis.stop()
        postgres.remove()
