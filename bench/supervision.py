"""Hand-written Keeper (scripts/stack.py, ``make run``) against supervisord, measured.

Both supervise the same three small HTTP servers (stand-ins for Rasa, the action server
and the gateway: the supervisor's own cost is what is measured). Printed for each:

- restart latency: SIGKILL of a child → its port accepts connections again, p50/p99
  over ``--kills`` kills (one every ``--gap`` seconds, round robin over the three);
- idle cost of the supervisor process itself: CPU seconds over ``--idle`` seconds and
  its resident memory (VmRSS), from /proc;
- the ratio supervisord / Keeper for each figure, from the same run.

Run: ``.venv/bin/python bench/supervision.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.ports import free_port  # noqa: E402
from scripts.prod import Supervisor, render_supervisord, supervisord_binary  # noqa: E402
from scripts.stack import Keeper, Service  # noqa: E402

SERVE = (
    "import http.server as h; "
    "h.HTTPServer(('127.0.0.1', {port}), h.BaseHTTPRequestHandler).serve_forever()"
)
NAMES = ("rasa", "actions", "gateway")


def services(var: Path, ports: dict[str, int]) -> list[Service]:
    return [
        Service(name, [sys.executable, "-c", SERVE.format(port=port)], "", dict(os.environ),
                var / f"{name}.log")
        for name, port in ports.items()
    ]


def accepting(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not accepting(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port} not back")
        time.sleep(0.002)


def child_pid(port: int) -> int:
    """The pid listening on ``port`` (from /proc/net/tcp and the fds of our children)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":
            inode = fields[9]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) == f"socket:[{inode}]":
                    return int(proc.name)
        except OSError:
            continue
    raise RuntimeError(f"no process listens on {port}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(
    supervisor_pid: int, ports: dict[str, int], args: argparse.Namespace
) -> dict[str, float]:
    for port in ports.values():
        wait_port(port)
    time.sleep(2)  # past start-up
    cpu0 = cpu_seconds(supervisor_pid)
    time.sleep(args.idle)
    idle_cpu = cpu_seconds(supervisor_pid) - cpu0
    rss = rss_mb(supervisor_pid)
    latencies = []
    for i in range(args.kills):
        port = list(ports.values())[i % len(ports)]
        pid = child_pid(port)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        while accepting(port):  # the dead listener's socket goes away first
            time.sleep(0.001)
        wait_port(port)
        latencies.append(time.monotonic() - killed)
        time.sleep(args.gap)
    return {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
            "idle_cpu": idle_cpu, "rss": rss}


def keeper_child(ports: list[int], var: Path, settle: float) -> None:
    """``--keeper-child``: the Keeper loop as ``make run`` runs it, in its own process."""
    keeper = Keeper(services(var, dict(zip(NAMES, ports, strict=True))), settle=settle,
                    say=lambda _line: None)

    def stop(*_: object) -> None:
        keeper.stop_all()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    keeper.start_all()
    while True:
        keeper.tick()
        time.sleep(0.1)  # as scripts.stack.run's loop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between kills")
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--keeper-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keeper_child:
        keeper_child([int(p) for p in args.keeper_child], Path(tempfile.mkdtemp()), settle=1.0)
        return
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        var = Path(folder)
        ports = {name: free_port() for name in NAMES}
        keeper = subprocess.Popen(
            [sys.executable, __file__, "--keeper-child", *map(str, ports.values())],
            start_new_session=True,
        )
        try:
            results["keeper"] = measure(keeper.pid, ports, args)
        finally:
            keeper.terminate()
            keeper.wait(timeout=30)

        if supervisord_binary() is None:
            raise SystemExit("supervisord not installed")
        (var / "run").mkdir()
        (var / "log").mkdir()
        ports = {name: free_port() for name in NAMES}
        conf = var / "supervisord.conf"
        # startsecs=1 like the Keeper's settle=1: both restart a child that ran at once.
        conf.write_text(render_supervisord(var, [(s, 100) for s in services(var, ports)],
                                           dict(os.environ)).replace("startsecs=5", "startsecs=1"))
        control = Supervisor(conf, var / "run" / "supervisor.sock", dict(os.environ),
                             var / "log" / "supervisord.out")
        control.launch()
        try:
            if control.process is None:
                raise SystemExit("supervisord did not start")
            results["supervisord"] = measure(control.process.pid, ports, args)
        finally:
            control.shutdown()

    print(f"{'':12} {'restart p50':>12} {'restart p99':>12} {'idle CPU':>10} {'RSS':>8}")
    for name, r in results.items():
        print(f"{name:12} {r['p50'] * 1000:10.0f}ms {r['p99'] * 1000:10.0f}ms "
              f"{r['idle_cpu']:9.2f}s {r['rss']:6.1f}MB")
    k, s = results["keeper"], results["supervisord"]
    print(f"{'ratio s/k':12} {s['p50'] / k['p50']:11.2f}x {s['p99'] / k['p99']:11.2f}x "
          f"{s['idle_cpu'] / max(k['idle_cpu'], 0.01):9.2f}x {s['rss'] / k['rss']:6.2f}x "
          f"(idle over {args.idle:.0f}s, {args.kills} kills)")


if __name__ == "__main__":
    main()
