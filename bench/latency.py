"""Latency of a chat turn through the gateway, against Rasa's REST channel in the same run.

Starts its own Rasa server, action server and gateway (fresh SQLite files in a temp
folder, free loopback ports), then:
  1. baseline: N concurrent senders post M messages each straight to Rasa's REST channel;
  2. gateway: N concurrent web customers send the same M messages through the gateway's
     socket.io endpoint (stored, processed by the worker, delivered back);
and prints p50/p95/p99 and throughput for both and the ratio gateway/Rasa.

    .venv/bin/python bench/latency.py [--customers 20] [--messages 5]
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

from bench.rasa_rest import MESSAGES, percentile, rasa_rest_turns
from scripts.stack import Ports, Stack
from tests.chat_client import WebCustomer
from tests.conftest import free_port


def summary(name: str, latencies: list[float], elapsed: float) -> dict[str, float]:
    figures = {
        "p50": percentile(latencies, 50) * 1000,
        "p95": percentile(latencies, 95) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "mean": statistics.fmean(latencies) * 1000,
        "throughput": len(latencies) / elapsed,
    }
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


async def through_gateway(gateway_url: str, customers: int, messages: int) -> dict[str, float]:
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
    return summary("gateway (socket.io)", latencies, elapsed)


async def measure(args: argparse.Namespace, stack: Stack) -> None:
    rasa_url = f"http://127.0.0.1:{stack.ports.rasa}"
    gateway_url = f"http://127.0.0.1:{stack.ports.gateway}"
    print("warming up…", flush=True)
    await rasa_baseline(rasa_url, 2, 2)
    await through_gateway(gateway_url, 2, 2)
    print(f"\n{args.customers} customers × {args.messages} messages each\n")
    baseline = await rasa_baseline(rasa_url, args.customers, args.messages)
    gateway = await through_gateway(gateway_url, args.customers, args.messages)
    print(
        f"\nratio gateway/Rasa: p50 {gateway['p50'] / baseline['p50']:.2f}x  "
        f"p95 {gateway['p95'] / baseline['p95']:.2f}x  p99 {gateway['p99'] / baseline['p99']:.2f}x  "
        f"throughput {gateway['throughput'] / baseline['throughput']:.2f}x"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--messages", type=int, default=5)
    args = parser.parse_args()
    if args.customers < 1 or args.messages < 1:
        parser.error("--customers and --messages must be at least 1")
    with tempfile.TemporaryDirectory(prefix="vetrina-bench-") as folder:
        var = Path(folder)
        stack = Stack(
            Ports(gateway=free_port(), rasa=free_port(), actions=free_port()),
            var=var,
            extra_env={
                "DATABASE_URL": f"sqlite+aiosqlite:///{var / 'vetrina.db'}",
                "VETRINA_LOG_LEVEL": "WARNING",
            },
        )
        services = [stack.actions(), stack.rasa(), stack.gateway()]
        from vetrina.storage.migrate import upgrade

        upgrade(f"sqlite+aiosqlite:///{var / 'vetrina.db'}")
        print("starting Rasa, action server and gateway…", flush=True)
        try:
            for service in services:
                service.start()
            for service in services:
                service.wait_ready(timeout=240)
            asyncio.run(measure(args, stack))
        finally:
            for service in reversed(services):
                service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
