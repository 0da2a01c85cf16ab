"""Latency of a chat turn through the gateway, against Rasa's REST channel in the same run.

Starts its own Rasa server, action server and gateway (fresh SQLite files in a temp
folder, free loopback ports), then:
  1. baseline: N concurrent senders post M messages each straight to Rasa's REST channel;
  2. gateway: N concurrent web customers send the same M messages through the gateway's
     socket.io endpoint (stored, processed by the worker, delivered back);
and prints p50/p95/p99 and throughput for both and the ratio gateway/Rasa.

``--variant NAME:KEY=VALUE,...`` (repeatable) measures the gateway again with other
settings, restarted between phases against the same Rasa, e.g. the scheduler's adaptive
limit against a fixed one; ``--rounds`` alternates baseline and gateway phases so that a
noisy machine hits both alike.

    .venv/bin/python bench/latency.py [--customers 20] [--messages 5]
        [--variant fixed8:VETRINA_RASA_CONCURRENCY_MIN=8,VETRINA_RASA_CONCURRENCY_MAX=8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import ONE_ADDRESS_FOR_ALL
from bench.rasa_rest import MESSAGES, percentile, rasa_rest_turns
from scripts.stack import Ports, Service, Stack
from tests.chat_client import WebCustomer
from tests.conftest import free_port


def summary(
    name: str, latencies: list[float], elapsed: float, quiet: bool = False
) -> dict[str, float]:
    figures = {
        "p50": percentile(latencies, 50) * 1000,
        "p95": percentile(latencies, 95) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "mean": statistics.fmean(latencies) * 1000,
        "throughput": len(latencies) / elapsed,
    }
    if quiet:
        return figures
    print(
        f"{name:<22} n={len(latencies):<5} p50={figures['p50']:7.1f} ms  "
        f"p95={figures['p95']:7.1f} ms  p99={figures['p99']:7.1f} ms  "
        f"mean={figures['mean']:7.1f} ms  throughput={figures['throughput']:6.1f} msg/s",
        flush=True,
    )
    return figures


async def rasa_baseline(rasa_url: str, customers: int, messages: int) -> dict[str, float]:
    latencies, elapsed = await rasa_rest_turns(rasa_url, customers, messages)
    return summary("Rasa REST (baseline)", latencies, elapsed)


async def through_gateway(
    gateway_url: str, customers: int, messages: int, name: str = "gateway", quiet: bool = False
) -> dict[str, float]:
    latencies: list[float] = []
    clients = [await WebCustomer(gateway_url).connect() for _ in range(customers)]

    async def one_customer(customer: WebCustomer, index: int) -> None:
        for turn in range(messages):
            started = time.perf_counter()
            await customer.send(MESSAGES[(index + turn) % len(MESSAGES)])
            await customer.next("bot_uttered", timeout=120)
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.3)  # the rest of the turn's messages arrive meanwhile
            while not customer.events["bot_uttered"].empty():
                customer.events["bot_uttered"].get_nowait()

    started = time.perf_counter()
    await asyncio.gather(*(one_customer(c, i) for i, c in enumerate(clients)))
    elapsed = time.perf_counter() - started - 0.3 * messages
    for customer in clients:
        await customer.close()
    return summary(f"{name} (socket.io)", latencies, elapsed, quiet)


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, settings = text.partition(":")
    pairs = [item.split("=", 1) for item in settings.split(",") if item]
    if not name or any(len(pair) != 2 for pair in pairs):
        raise argparse.ArgumentTypeError(f"expected NAME:KEY=VALUE,..., got {text!r}")
    return name, dict(pairs)  # type: ignore[arg-type]


def ratio_line(name: str, gateway: dict[str, float], baseline: dict[str, float]) -> str:
    parts = "  ".join(
        f"{key} {gateway[key] / baseline[key]:.2f}x" for key in ("p50", "p95", "p99", "throughput")
    )
    return f"ratio {name}/Rasa: {parts}"


def pooled(phases: list[dict[str, float]], key: str) -> float:
    return statistics.median(phase[key] for phase in phases)


async def measure(
    args: argparse.Namespace, stack: Stack, variants: list[tuple[str, dict[str, str]]]
) -> None:
    rasa_url = f"http://127.0.0.1:{stack.ports.rasa}"
    gateway_url = f"http://127.0.0.1:{stack.ports.gateway}"
    print(f"\n{args.customers} customers × {args.messages} messages each, "
          f"{args.rounds} round(s)\n", flush=True)
    baselines: list[dict[str, float]] = []
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in variants}
    gateway: Service | None = None
    try:
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}", flush=True)
            baselines.append(await rasa_baseline(rasa_url, args.customers, args.messages))
            for name, env in variants:
                gateway = await asyncio.to_thread(restart_gateway, stack, gateway, env)
                await through_gateway(gateway_url, 2, 2, quiet=True)  # warm up
                results[name].append(
                    await through_gateway(gateway_url, args.customers, args.messages, name)
                )
    finally:
        if gateway is not None:
            gateway.stop()
    baseline = {key: pooled(baselines, key) for key in baselines[0]}
    print("\nmedian over rounds:" if args.rounds > 1 else "")
    for name, phases in results.items():
        figures = {key: pooled(phases, key) for key in phases[0]}
        print(ratio_line(name, figures, baseline))


def restart_gateway(stack: Stack, running: Service | None, env: dict[str, str]) -> Service:
    """A fresh gateway process with ``env`` on top of the stack's settings."""
    if running is not None:
        running.stop()
    service = stack.gateway()
    service.env.update(env)
    service.start()
    service.wait_ready(timeout=120)
    return service


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--variant", type=parse_variant, action="append", default=[],
                        help="NAME:KEY=VALUE,... gateway settings to measure as well")
    args = parser.parse_args()
    if min(args.customers, args.messages, args.rounds) < 1:
        parser.error("--customers, --messages and --rounds must be at least 1")
    variants = [("gateway", {}), *args.variant]
    with tempfile.TemporaryDirectory(prefix="vetrina-bench-") as folder:
        var = Path(folder)
        stack = Stack(
            Ports(gateway=free_port(), rasa=free_port(), actions=free_port()),
            var=var,
            extra_env={
                "DATABASE_URL": f"sqlite+aiosqlite:///{var / 'vetrina.db'}",
                "VETRINA_LOG_LEVEL": "WARNING",
                **ONE_ADDRESS_FOR_ALL,
            },
        )
        services = [stack.actions(), stack.rasa()]
        from vetrina.storage.migrate import upgrade

        upgrade(f"sqlite+aiosqlite:///{var / 'vetrina.db'}")
        print("starting Rasa and the action server…", flush=True)
        try:
            for service in services:
                service.start()
            for service in services:
                service.wait_ready(timeout=240)
            asyncio.run(rasa_baseline(f"http://127.0.0.1:{stack.ports.rasa}", 2, 2))  # warm up
            asyncio.run(measure(args, stack, variants))
        finally:
            for service in reversed(services):
                service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
