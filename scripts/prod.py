"""The production topology on one machine, without Docker: ``make run-prod``.

The same processes as ``docker-compose.yml``: PostgreSQL (the gateway database and
Rasa's tracker store), Redis (socket.io across gateways, Rasa's lock store), two Rasa
servers sharing the model, one action server, two gateways, and a reverse proxy with
sticky socket.io sessions (``scripts/proxy.py``, the role nginx plays in compose).

``make run-prod`` uses the PostgreSQL and Redis named by ``VETRINA_PROD_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/postgres``, an admin connection used
to create the ``vetrina`` and ``vetrina_rasa`` databases when missing) and ``REDIS_URL``
(default ``redis://127.0.0.1:6379/0``). Tests and ``bench/load.py`` start throwaway
servers instead (:class:`TempPostgres`, :class:`TempRedis`) that they may restart.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from scripts.stack import ROOT, VAR, VENV_BIN, Ports, Service, Stack, port_in_use, tail

PYTHON = VENV_BIN / "python"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the ``postgres`` user."""
    if os.geteuid() == 0 and shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian layout), if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


@dataclass
class TempPostgres:
    """A throwaway PostgreSQL cluster on a free port (trust auth, loopback only).

    Its folder is a fresh one under /tmp owned by the ``postgres`` user when we are root
    (a test's own temporary folder is not reachable for that user).
    """

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vetrina-pg-")))
    port: int = field(default_factory=free_port)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        bin_dir = postgres_bin()
        assert bin_dir is not None
        subprocess.run(
            _as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(self.folder / "data"),
                               "-l", str(self.folder / "postgres.log"), "-w", "-t", "60", *args]),
            check=True, stdout=subprocess.DEVNULL,
        )

    def start(self) -> TempPostgres:
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin)")
        data = self.folder / "data"
        if not data.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                self.folder.chmod(0o755)
                shutil.chown(self.folder, "postgres", "postgres")
            subprocess.run(
                _as_postgres_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                                   "-A", "trust", "-E", "UTF8", "--no-sync"]),
                check=True, stdout=subprocess.DEVNULL,
            )
        self._ctl("-o", f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 "
                        "-c max_connections=200 -c fsync=off", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "stop")

    def remove(self) -> None:
        """Stop if running, and delete the cluster."""
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def restart(self) -> None:
        self._ctl("-m", "fast", "-o", f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 "
                  "-c max_connections=200 -c fsync=off", "restart")


@dataclass
class TempRedis:
    """A throwaway Redis server on a free port, no persistence."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> TempRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found")
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.folder)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while not port_in_use(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def create_databases(admin_url: str, names: list[str]) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in names:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')


def database_url(admin_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@dataclass
class Topology:
    """N gateways + N Rasa, one action server, a proxy in front of the gateways and one
    in front of the Rasa servers (a turn goes to any Rasa that is up: they share
    trackers in PostgreSQL and conversation locks in Redis)."""

    var: Path
    postgres_admin_url: str
    redis_url: str
    instances: int = 2
    proxy_port: int = 8080
    extra_env: dict[str, str] = field(default_factory=dict)
    gateway_ports: list[int] = field(default_factory=list)
    rasa_ports: list[int] = field(default_factory=list)
    db_name: str = "vetrina"
    tracker_db_name: str = "vetrina_rasa"

    def __post_init__(self) -> None:
        self.gateway_ports = self.gateway_ports or [free_port() for _ in range(self.instances)]
        self.rasa_ports = self.rasa_ports or [free_port() for _ in range(self.instances)]
        self.public_url = f"http://127.0.0.1:{self.proxy_port}"
        self.database_url = database_url(self.postgres_admin_url, self.db_name)
        env = {
            "DATABASE_URL": self.database_url,
            "RASA_TRACKER_STORE_URL": database_url(self.postgres_admin_url, self.tracker_db_name),
            "RASA_LOCK_STORE_URL": self.redis_url.rsplit("/", 1)[0] + "/1",
            "REDIS_URL": self.redis_url,
            "VETRINA_PUBLIC_URL": self.public_url,
            "VETRINA_LOG_FORMAT": "json",
            **self.extra_env,
        }
        self.stack = Stack(
            Ports(gateway=self.gateway_ports[0], rasa=self.rasa_ports[0], actions=free_port()),
            var=self.var, extra_env=env,
        )
        self.actions = self.stack.actions()
        self.rasas = [
            self.stack.rasa(port, f"rasa-{i + 1}") for i, port in enumerate(self.rasa_ports)
        ]
        self.rasa_proxy_port = free_port()
        self.rasa_proxy = Service(
            "rasa-proxy",
            [str(PYTHON), "-m", "scripts.proxy", "--no-resend", "--port", str(self.rasa_proxy_port),
             *[arg for port in self.rasa_ports for arg in ("--upstream", f"http://127.0.0.1:{port}")]],
            f"http://127.0.0.1:{self.rasa_proxy_port}/",
            {**os.environ, "PYTHONUNBUFFERED": "1"},
            self.var / "log" / "rasa-proxy.log",
        )
        self.gateways = [
            self.stack.gateway(port, f"gateway-{i + 1}", rasa_port=self.rasa_proxy_port)
            for i, port in enumerate(self.gateway_ports)
        ]
        self.proxy = Service(
            "proxy",
            [str(PYTHON), "-m", "scripts.proxy", "--port", str(self.proxy_port),
             *[arg for port in self.gateway_ports for arg in ("--upstream", f"http://127.0.0.1:{port}")]],
            f"{self.public_url}/healthz",
            {**os.environ, "PYTHONUNBUFFERED": "1"},
            self.var / "log" / "proxy.log",
        )

    @property
    def services(self) -> list[Service]:
        return [self.actions, *self.rasas, self.rasa_proxy, *self.gateways, self.proxy]

    def prepare(self, *, demo: bool = False) -> None:
        """Databases, then migrations from every gateway at once (they take turns), then
        the demo retailer if asked (the action server answers stock questions from it)."""
        create_databases(self.postgres_admin_url, [self.db_name, self.tracker_db_name])
        env = self.stack._env()
        migrations = [
            subprocess.Popen([str(VENV_BIN / "vetrina"), "migrate"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in self.gateways
        ]
        for process in migrations:
            _, err = process.communicate(timeout=120)
            if process.returncode != 0:
                raise RuntimeError(f"vetrina migrate failed: {err.decode()[-2000:]}")
        if demo:
            subprocess.run([str(VENV_BIN / "vetrina"), "demo"], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL)

    def start(self, *, wait_rasa: bool = True) -> None:
        self.actions.start()
        for service in [*self.rasas, self.rasa_proxy, *self.gateways, self.proxy]:
            service.start()
        for service in [*self.gateways, self.proxy]:
            service.wait_ready(timeout=60)
        if wait_rasa:
            self.actions.wait_ready(timeout=120)
            for rasa in self.rasas:
                rasa.wait_ready(timeout=300)
            self.rasa_proxy.wait_ready(timeout=30)

    def restart(self, service: Service, timeout: float = 300) -> Service:
        """Start a stopped (or killed) service again, the same way."""
        service.process = None
        service.start()
        service.wait_ready(timeout=timeout)
        return service

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    admin = os.environ.get("VETRINA_PROD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    proxy_port = int(os.environ.get("VETRINA_PORT", "8080"))
    if port_in_use(proxy_port):
        print(f"error: port {proxy_port} already in use (VETRINA_PORT)", file=sys.stderr)
        return 1
    topology = Topology(VAR / "prod", admin, redis_url, instances=args.instances,
                        proxy_port=proxy_port)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        print("Preparing databases and migrations…", flush=True)
        topology.prepare(demo=True)
        started = time.monotonic()
        topology.start(wait_rasa=False)
        print(
            f"\nVetrina (production topology) is up ({time.monotonic() - started:.0f}s):\n"
            f"  {topology.public_url}/          storefront through the proxy\n"
            f"  {topology.public_url}/metrics   Prometheus metrics (of the instance answering)\n"
            + "".join(f"  http://127.0.0.1:{p}/   gateway-{i + 1}\n" for i, p in enumerate(topology.gateway_ports))
            + "".join(f"  http://127.0.0.1:{p}/   rasa-{i + 1}\n" for i, p in enumerate(topology.rasa_ports))
            + f"Logs (JSON lines): {topology.var / 'log'}. Press Ctrl-C to stop.\n",
            flush=True,
        )
        topology.actions.wait_ready(timeout=120)
        for rasa in topology.rasas:
            rasa.wait_ready(timeout=300)
        print(f"Assistants ready ({time.monotonic() - started:.0f}s).", flush=True)
        while True:
            for service in topology.services:
                if service.process is not None and service.process.poll() is not None:
                    print(f"{service.name} stopped; restarting. Last lines:\n{tail(service.log_path, 10)}")
                    topology.restart(service)
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    except (RuntimeError, httpx.HTTPError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        print("\nStopping…", flush=True)
        topology.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.prod")
    sub = parser.add_subparsers(dest="command", required=True)
    runner = sub.add_parser("run", help="start the production topology on this machine")
    runner.add_argument("--instances", type=int, default=2)
    runner.set_defaults(func=run)
    args = parser.parse_args()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
