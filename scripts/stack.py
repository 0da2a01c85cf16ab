"""Start, watch and stop the three local processes: Rasa, the action server, the gateway.

Used by ``make run`` (``python -m scripts.stack run``), ``make test`` (``test-stories``)
and the integration-test fixtures, so that all of them start the stack the same way.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
RASA_LAUNCHER = ROOT / "docker" / "rasa" / "run_rasa.py"
MODEL = ROOT / "models" / "vetrina.tar.gz"
VAR = ROOT / "var"


@dataclass
class Ports:
    gateway: int = 8080
    rasa: int = 5005
    actions: int = 5055

    @classmethod
    def from_env(cls) -> Ports:
        return cls(
            gateway=int(os.environ.get("VETRINA_PORT", "8080")),
            rasa=int(os.environ.get("RASA_PORT", "5005")),
            actions=int(os.environ.get("ACTION_SERVER_PORT", "5055")),
        )


def write_endpoints(
    path: Path, action_port: int, tracker_db: Path, env: dict[str, str] | None = None
) -> Path:
    """Rasa's endpoints file for this run: local action server, SQL tracker store.

    ``RASA_TRACKER_STORE_URL`` (a PostgreSQL URL) replaces the SQLite tracker file;
    ``RASA_LOCK_STORE_URL`` (``redis://host:port/db``) adds Rasa's Redis lock store, which
    several Rasa instances sharing one tracker store need (Rasa's "Lock Stores" docs).
    """
    env = dict(os.environ) if env is None else env
    tracker_url = env.get("RASA_TRACKER_STORE_URL")
    if tracker_url:
        from sqlalchemy.engine import make_url

        url = make_url(tracker_url)
        tracker = (
            "tracker_store:\n  type: SQL\n  dialect: postgresql\n"
            f"  url: {url.host or '127.0.0.1'}\n  port: {url.port or 5432}\n"
            f"  db: {url.database}\n  username: {url.username or 'postgres'}\n"
            f"  password: \"{url.password or ''}\"\n"
        )
    else:
        tracker = f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {tracker_db}\n"
    lock_url = env.get("RASA_LOCK_STORE_URL")
    if lock_url:
        from urllib.parse import urlsplit

        redis = urlsplit(lock_url)
        tracker += (
            "lock_store:\n  type: redis\n"
            f"  url: {redis.hostname or '127.0.0.1'}\n  port: {redis.port or 6379}\n"
            f"  db: {(redis.path or '/1').strip('/') or 1}\n  key_prefix: vetrina\n"
            + (f"  password: \"{redis.password}\"\n" if redis.password else "")
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n{tracker}",
        encoding="utf-8",
    )
    return path


@dataclass
class Service:
    name: str
    command: list[str]
    ready_url: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def failed(self) -> str | None:
        """Why the service can no longer become ready (None while it may still)."""
        if self.process is not None and self.process.poll() is not None:
            return f"exited with code {self.process.returncode}"
        return None

    def wait_ready(self, timeout: float) -> None:
        """Poll ``ready_url``; a failure or a timeout raises with the log's tail (and the
        machine's load), so a run that failed elsewhere still says why."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            failure = self.failed()
            if failure:
                raise RuntimeError(
                    f"{self.name} {failure}; see {self.log_path}:\n{tail(self.log_path)}"
                )
            try:
                status = httpx.get(self.ready_url, timeout=2).status_code
                if status == 200:
                    return
                last = f"HTTP {status}"
            except httpx.HTTPError as error:
                last = type(error).__name__
            time.sleep(0.3)
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        raise RuntimeError(
            f"{self.name} not ready after {timeout:.0f}s (last check: {last}; load average "
            f"{load}); see {self.log_path}:\n{tail(self.log_path)}"
        )

    def stop(self, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Stack:
    """The three processes of one local Vetrina, sharing a token and a data folder."""

    ports: Ports
    var: Path = VAR
    token: str = field(
        default_factory=lambda: os.environ.get("RASA_TOKEN") or secrets.token_urlsafe(24)
    )
    extra_env: dict[str, str] = field(default_factory=dict)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env.update(
            RASA_TOKEN=self.token,
            RASA_URL=f"http://127.0.0.1:{self.ports.rasa}",
            ACTION_SERVER_URL=f"http://127.0.0.1:{self.ports.actions}",
            VETRINA_PORT=str(self.ports.gateway),
            PYTHONUNBUFFERED="1",
        )
        env.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{self.var / 'vetrina.db'}")
        # This checkout's code, whichever checkout the venv's editable install points at
        # (a console script such as `vetrina serve` does not look in its working directory).
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        return env

    def rasa(self, port: int | None = None, name: str = "rasa") -> Service:
        """A Rasa server; ``port`` and ``name`` tell several instances apart."""
        port = port or self.ports.rasa
        env = self._env()
        endpoints = write_endpoints(
            self.var / "endpoints.yml", self.ports.actions, self.var / "rasa-tracker.db", env
        )
        env["SQLALCHEMY_SILENCE_UBER_WARNING"] = "1"
        _without_checkout(env)  # Rasa's own venv: none of the project's packages
        return Service(
            name,
            # The token reaches Rasa through the environment (run_rasa.py), not argv.
            [
                str(RASA_PYTHON), str(RASA_LAUNCHER), "run", "--enable-api",
                "-i", "127.0.0.1", "-p", str(port), "--model", str(MODEL),
                "--endpoints", str(endpoints),
                "--credentials", str(ROOT / "bot" / "credentials.yml"),
            ],
            f"http://127.0.0.1:{port}/status?token={self.token}",
            env,
            self.var / "log" / f"{name}.log",
        )

    def actions(self, port: int | None = None, name: str = "action server") -> Service:
        """An action server; with ``port``/``name`` one of several instances."""
        env = self._env()
        env["SANIC_HOST"] = "127.0.0.1"
        port = port or self.ports.actions
        return Service(
            name,
            # rasa_sdk's server, with log lines that carry the customer message's id.
            [str(VENV_BIN / "python"), "-m", "vetrina.observability.action_server",
             "--actions", "actions", "-p", str(port)],
            f"http://127.0.0.1:{port}/health",
            env,
            self.var / "log" / ("actions.log" if name == "action server" else f"{name}.log"),
        )

    def gateway(
        self, port: int | None = None, name: str = "gateway", rasa_port: int | None = None
    ) -> Service:
        """A gateway; with ``port``/``name``/``rasa_port`` one of several instances."""
        env = self._env()
        port = port or self.ports.gateway
        env["VETRINA_PORT"] = str(port)
        env["RASA_URL"] = f"http://127.0.0.1:{rasa_port or self.ports.rasa}"
        return Service(
            name,
            [str(VENV_BIN / "vetrina"), "serve"],
            f"http://127.0.0.1:{port}/healthz",
            env,
            self.var / "log" / f"{name}.log",
        )


def _without_checkout(env: dict[str, str]) -> None:
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    else:
        env.pop("PYTHONPATH", None)


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@dataclass
class Keeper:
    """Restarts each service that dies, with backoff, and leaves the others alone.

    A service that dies within ``settle`` seconds of its start counts as a failed start:
    the next wait doubles (``first_delay`` … ``max_delay``); one that ran longer starts
    again after ``first_delay``. Measured against supervisord for this job
    (bench/supervision.py): it restarts sooner (p50 0.9 s against 1.5 s: supervisord
    acts on a child's death at its next one-second tick), for 6 MB more memory and
    ~0.1 % of a core while idle; and it prints when the stack is usable, which
    ``make run`` needs. ``make run-prod`` uses supervisord.
    """

    services: list[Service]
    first_delay: float = 0.5
    max_delay: float = 30.0
    settle: float = 30.0
    say: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    _started: dict[str, float] = field(default_factory=dict)
    _failures: dict[str, int] = field(default_factory=dict)
    _due: dict[str, float] = field(default_factory=dict)

    def start(self, service: Service) -> None:
        service.start()
        self._started[service.name] = time.monotonic()
        pid = service.process.pid if service.process is not None else "?"
        self.say(f"Started {service.name} (pid {pid}, log: {_shown(service.log_path)})")

    def start_all(self) -> None:
        for service in self.services:
            self.start(service)

    def tick(self) -> None:
        """Notice deaths and start what is due; call it often (it only polls pids)."""
        now = time.monotonic()
        for service in self.services:
            if service.name in self._due:
                if now >= self._due[service.name]:
                    del self._due[service.name]
                    self.start(service)
                continue
            if service.process is None or service.process.poll() is None:
                continue
            lived = now - self._started.get(service.name, now)
            failures = self._failures.get(service.name, 0) + 1 if lived < self.settle else 0
            self._failures[service.name] = failures
            delay = min(self.max_delay, self.first_delay * 2**failures)
            self._due[service.name] = now + delay
            self.say(
                f"{service.name} exited (code {service.process.returncode}) after {lived:.0f}s; "
                f"restarting in {delay:.1f}s (log: {_shown(service.log_path)})"
            )

    def stop_all(self) -> None:
        for service in reversed(self.services):
            service.stop()


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _ready(service: Service, client: httpx.Client) -> bool:
    try:
        return client.get(service.ready_url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def demo_accounts() -> list[str]:
    """``vetrina consultant demo-accounts``: the console's demo admin and consultant
    (made on the first ``make run`` only, passwords shown once), as banner lines.
    ``make run-prod`` never calls it: production gets no account it did not create."""
    try:
        done = subprocess.run(
            [str(VENV_BIN / "vetrina"), "consultant", "demo-accounts"], cwd=ROOT,
            capture_output=True, text=True, timeout=120, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return [f"  (no demo accounts: {error})"]
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return [f"  (no demo accounts: {last}; run `make migrate` first)"]
    return done.stdout.rstrip("\n").splitlines()


def run(args: argparse.Namespace) -> int:
    stack = Stack(Ports.from_env(), var=Path(args.var).resolve() if args.var else VAR)
    ports = (stack.ports.gateway, stack.ports.rasa, stack.ports.actions)
    busy = [p for p in ports if port_in_use(p)]
    if busy:
        print(
            f"error: port(s) {', '.join(map(str, busy))} already in use on 127.0.0.1 — is Vetrina "
            "already running? Stop it, or choose other ports with VETRINA_PORT, RASA_PORT and "
            "ACTION_SERVER_PORT.",
            file=sys.stderr,
        )
        return 1
    accounts = demo_accounts()
    actions, rasa, gateway = stack.actions(), stack.rasa(), stack.gateway()
    keeper = Keeper([actions, rasa, gateway])
    # Installed explicitly: a shell that starts us in the background ignores SIGINT,
    # and Python then would not turn Ctrl-C into KeyboardInterrupt.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    base = f"http://127.0.0.1:{stack.ports.gateway}"
    # One client for the readiness checks: a new one per check costs ~10% of a core.
    client = httpx.Client(trust_env=False)
    try:
        started = time.monotonic()
        keeper.start_all()
        waiting_for = {"gateway": [gateway], "assistant": [actions, rasa]}
        next_check = 0.0
        while True:
            keeper.tick()
            if waiting_for and time.monotonic() >= next_check:
                next_check = time.monotonic() + 0.5
                if "gateway" in waiting_for and _ready(gateway, client):
                    del waiting_for["gateway"]
                    print(
                        f"\nVetrina is up ({time.monotonic() - started:.0f}s):\n"
                        f"  {base}/          demo storefront with the chat widget\n"
                        f"  {base}/readyz    readiness of database, Rasa and action server\n"
                        f"  {base}/simulator WhatsApp and Instagram simulator (development only)\n"
                        f"  {base}/console   consultant console; demo accounts:\n"
                        + "".join(line + "\n" for line in accounts)
                        + f"  http://127.0.0.1:{stack.ports.rasa}/    Rasa server"
                        " (API token in RASA_TOKEN)\n"
                        "The assistant is loading its model; messages sent meanwhile are kept and\n"
                        "answered as soon as it is ready. A process that dies is started again.\n"
                        "Press Ctrl-C to stop.\n",
                        flush=True,
                    )
                elif "assistant" in waiting_for and all(
                    _ready(service, client) for service in waiting_for["assistant"]
                ):
                    del waiting_for["assistant"]
                    print(f"Assistant ready ({time.monotonic() - started:.0f}s).", flush=True)
            time.sleep(0.1)
    except KeyboardInterrupt:
        return 0
    finally:
        client.close()
        print("\nStopping Vetrina…", flush=True)
        keeper.stop_all()
        print("Stopped.", flush=True)


def test_stories(args: argparse.Namespace) -> int:
    """``rasa test`` on the test stories, with an action server started for the run."""
    stack = Stack(Ports(actions=int(os.environ.get("ACTION_SERVER_PORT", "5056"))))
    actions = stack.actions()
    actions.start()
    try:
        actions.wait_ready(timeout=60)
        endpoints = write_endpoints(
            stack.var / "test-endpoints.yml", stack.ports.actions, stack.var / "test-tracker.db"
        )
        return subprocess.call(
            [
                str(RASA_BIN), "test", "core", "--stories", "bot/tests",
                "--model", str(MODEL), "--endpoints", str(endpoints),
                "--e2e", "--fail-on-prediction-errors",
                "--out", str(stack.var / "rasa-test-results"),
            ],
            cwd=ROOT,
            env={**os.environ, "SQLALCHEMY_SILENCE_UBER_WARNING": "1"},
        )
    finally:
        actions.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.stack")
    sub = parser.add_subparsers(dest="command", required=True)
    runner = sub.add_parser(
        "run", help="start Rasa, the action server and the gateway, and keep them up"
    )
    runner.add_argument("--var", help="data and log folder (default: var/)")
    runner.set_defaults(func=run)
    sub.add_parser("test-stories", help="rasa test on bot/tests").set_defaults(func=test_stories)
    args = parser.parse_args()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
