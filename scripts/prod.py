"""The production topology on one machine, without Docker: ``make run-prod``.

The same processes as ``docker-compose.yml``: PostgreSQL (the gateway database and
Rasa's tracker store), Redis (socket.io across gateways, Rasa's lock store), two Rasa
servers sharing the model, two action servers, two gateways, and nginx (Debian's
package) in front of the gateways, the Rasa servers and the action servers, with the
config shape of ``docker/nginx/nginx.conf`` (``deploy/nginx/vetrina.conf.in``).
supervisord (the ``supervisor`` package) runs and restarts every process: one that
dies is started again, one that keeps failing to start backs off (1 s, 2 s, … 10 s)
and is then left FATAL on its own, while the others keep running.

Production mode: ``VETRINA_ENV=production`` (no simulator, no fake providers, JSON
logs), the environment's ``VETRINA_PUBLIC_URL`` as the gateways' public address (what
Twilio signs), and no demo data unless ``--demo``.

``make run-prod`` uses the PostgreSQL and Redis named by ``VETRINA_PROD_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/postgres``, an admin connection used
to create the ``vetrina`` and ``vetrina_rasa`` databases when missing) and ``REDIS_URL``
(default ``redis://127.0.0.1:6379/0``). Tests and ``bench/load.py`` start throwaway
servers instead (:class:`TempPostgres`, :class:`TempRedis`) that they may restart.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from scripts.ports import free_port
from scripts.stack import (
    ROOT,
    VAR,
    VENV_BIN,
    Ports,
    Service,
    Stack,
    port_in_use,
    write_endpoints,
)

PYTHON = VENV_BIN / "python"


def _as_postgres_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the ``postgres`` user."""
    if os.geteuid() == 0 and shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian layout), if any."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4])
    )
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
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
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
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
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
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')


def database_url(admin_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "vetrina.conf.in"


def nginx_binary() -> Path | None:
    """Debian's nginx (``apt-get install nginx``; ``make run-prod`` installs it)."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    return Path(found) if found else None


def supervisord_binary() -> Path | None:
    """supervisord from the project's venv (the ``supervisor`` dependency), else the system's."""
    local = VENV_BIN / "supervisord"
    if local.exists():
        return local
    found = shutil.which("supervisord")
    return Path(found) if found else None


def _worker_user() -> str:
    """nginx started as root drops its workers to an unprivileged user."""
    if os.geteuid() != 0:
        return ""
    for user, group in (("www-data", "www-data"), ("nobody", "nogroup")):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return f"user {user} {group};"
    return ""


def render_nginx(
    *, run_dir: Path, log_dir: Path, listen: str, gateways: list[int], rasas: list[int],
    actions: list[int], rasa_port: int, actions_port: int, temp_dir: Path | None = None,
) -> str:
    """nginx.conf for these loopback ports, from ``deploy/nginx/vetrina.conf.in``."""

    def servers(ports: list[int]) -> str:
        return "\n".join(
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in ports
        )

    text = NGINX_TEMPLATE.read_text(encoding="utf-8")
    for marker, value in {
        "USER": _worker_user(), "RUN": str(run_dir), "LOG": str(log_dir), "LISTEN": listen,
        "TEMP": str(temp_dir or run_dir),
        "GATEWAYS": servers(gateways), "RASAS": servers(rasas), "ACTIONS": servers(actions),
        "RASA_PORT": str(rasa_port), "ACTIONS_PORT": str(actions_port),
    }.items():
        text = text.replace(f"@@{marker}@@", value)
    return text


NGINX_TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_temp_dir(run_dir: Path) -> Path:
    """Where nginx buffers large bodies. Started as root, nginx runs its workers as an
    unprivileged user (``_worker_user()``), who may not reach ``run_dir`` (a test's
    temporary folder is private to root): then a fresh folder of its own under /tmp."""
    if not _worker_user():
        return run_dir
    folder = Path(tempfile.mkdtemp(prefix="vetrina-nginx-"))
    folder.chmod(0o755)
    return folder


def prepare_nginx_dirs(temp_dir: Path) -> None:
    """The temp folders of the rendered config, writable by nginx's workers (a folder
    that ``nginx -t``, run as root, created would refuse them large request bodies)."""
    user = _worker_user().split()
    for name in NGINX_TEMP_DIRS:
        folder = temp_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        if len(user) == 3:  # "user NAME GROUP;"
            shutil.chown(folder, user[1], user[2].rstrip(";"))


def check_nginx_config(path: Path) -> None:
    """``nginx -t``: the rendered file is valid for this nginx (raises with its message)."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError(
            "nginx is not installed: `make run-prod` installs it (apt-get install nginx)"
        )
    result = subprocess.run(
        [str(binary), "-t", "-q", "-c", str(path), "-p", str(path.parent)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"nginx -t failed for {path}:\n{result.stderr}")


def _supervisor_value(value: str) -> str:
    """A value for supervisord's ``environment=`` (quoted; ``%`` is its expansion sign)."""
    return '"' + value.replace("%", "%%").replace("\\", "\\\\").replace('"', '\\"') + '"'


def _supervisor_command(argv: list[str]) -> str:
    """One line for ``command=``: shell-quoted, ``%`` doubled (supervisord expands it)."""
    line = shlex.join(argv)
    if "\n" in line:
        raise ValueError(f"a supervisord command is one line: {argv!r}")
    return line.replace("%", "%%")


def render_supervisord(
    var: Path, programs: Sequence[tuple[Service, int]], base_env: dict[str, str],
    *, start_retries: int = 10, later: Sequence[str] = (),
) -> str:
    """supervisord.conf: one ``[program:…]`` per service, ``priority`` its start order;
    the programs named in ``later`` are not started with supervisord (``autostart=false``)
    but by whoever drives it, once the others are up.

    Secrets stay out of the file: every program inherits supervisord's environment
    (``base_env``); ``environment=`` holds only what differs per program (ports, URLs).
    """
    log, run = var / "log", var / "run"
    lines = [
        "; Written by scripts/prod.py for `make run-prod`; regenerated on every start.",
        "[supervisord]",
        "nodaemon=true",
        f"logfile={log / 'supervisord.log'}",
        f"pidfile={run / 'supervisord.pid'}",
        f"childlogdir={log}",
        "",
        "[unix_http_server]",
        f"file={run / 'supervisor.sock'}",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{run / 'supervisor.sock'}",
    ]
    for service, priority in programs:
        own = {k: v for k, v in service.env.items() if base_env.get(k) != v}
        lines += [
            "",
            f"[program:{service.name}]",
            f"command={_supervisor_command(service.command)}",
            f"directory={ROOT}",
            f"priority={priority}",
            f"autostart={'false' if service.name in later else 'true'}",
            "autorestart=true",
            # Dying within startsecs is a failed start: retried after 1 s, 2 s, ... then FATAL
            # (that program only; `supervisorctl start` tries again).
            "startsecs=5",
            f"startretries={start_retries}",
            "stopasgroup=true",
            "killasgroup=true",
            "stopwaitsecs=15",
            "redirect_stderr=true",
            f"stdout_logfile={service.log_path}",
            "stdout_logfile_maxbytes=50MB",
            "stdout_logfile_backups=3",
        ]
        if own:
            pairs = (f"{k}={_supervisor_value(v)}" for k, v in sorted(own.items()))
            lines.append("environment=" + ",".join(pairs))
    return "\n".join(lines) + "\n"


class Supervisor:
    """supervisord for one topology, driven over its XML-RPC socket (as supervisorctl is)."""

    def __init__(self, config: Path, socket: Path, env: dict[str, str], log: Path) -> None:
        self.config, self.socket, self.env, self.log = config, socket, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def rpc(self) -> Any:
        # supervisor ships no type information.
        from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def launch(self, timeout: float = 30) -> None:
        binary = supervisord_binary()
        if binary is None:
            raise RuntimeError("supervisord not found: `make setup` installs it (supervisor)")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [str(binary), "-n", "-c", str(self.config)], cwd=ROOT, env=self.env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"supervisord exited ({self.process.returncode}); see {self.log}"
                )
            try:
                if self.rpc().getState()["statename"] == "RUNNING":
                    return
            except (OSError, xmlrpc.client.Error):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"supervisord did not answer on {self.socket}")

    def start(self, name: str) -> None:
        """Start ``name`` unless supervisord is already (re)starting it."""
        try:
            self.rpc().startProcess(name, False)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise

    def stop(self, name: str) -> None:
        try:
            self.rpc().stopProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                raise

    def info(self, name: str) -> dict[str, Any]:
        return dict(self.rpc().getProcessInfo(name))

    def states(self) -> dict[str, str]:
        return {p["name"]: p["statename"] for p in self.rpc().getAllProcessInfo()}

    def shutdown(self) -> None:
        """Stop every program (reverse priority), then supervisord itself."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.rpc().shutdown()
            self.process.wait(timeout=90)
        except (OSError, xmlrpc.client.Error, subprocess.TimeoutExpired):
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@dataclass
class Supervised(Service):
    """A service that supervisord runs: start/stop go through it; ``stop(kill=True)`` is
    a SIGKILL to the process group, which supervisord sees as a crash and restarts."""

    supervisor: Supervisor | None = field(default=None, repr=False)

    def _control(self) -> Supervisor:
        if self.supervisor is None:
            raise RuntimeError(f"{self.name}: the topology is not started")
        return self.supervisor

    def start(self) -> None:
        self._control().start(self.name)

    def stop(self, kill: bool = False) -> None:
        control = self._control()
        if not kill:
            control.stop(self.name)
            return
        pid = int(control.info(self.name).get("pid") or 0)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    @property
    def pid(self) -> int:
        return int(self._control().info(self.name).get("pid") or 0)

    def failed(self) -> str | None:
        """supervisord gave up on it (FATAL: it kept dying within ``startsecs``)."""
        if self.supervisor is None:
            return None
        try:
            state = self.supervisor.info(self.name).get("statename")
        except (OSError, xmlrpc.client.Error):  # not a program of its own (rasa-proxy)
            return None
        return "failed to start (supervisord: FATAL)" if state == "FATAL" else None


def _supervised(service: Service) -> Supervised:
    return Supervised(
        service.name, service.command, service.ready_url, service.env, service.log_path
    )


@dataclass
class Topology:
    """N gateways, N Rasa, ``action_servers`` action servers, nginx in front of each
    group, all run by supervisord. A turn goes to any Rasa that is up (they share
    trackers in PostgreSQL and conversation locks in Redis); Rasa reaches any action
    server that is up through nginx.

    ``public_url`` is where nginx listens (what tests and benchmarks talk to); the
    gateways' ``VETRINA_PUBLIC_URL`` is ``advertised_url`` when given (the address
    customers and providers use, e.g. https://shop.example.com), else the same.
    """

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
    action_servers: int = 2
    proxy_host: str = "127.0.0.1"
    advertised_url: str | None = None

    def __post_init__(self) -> None:
        self.var = self.var.resolve()
        self.gateway_ports = self.gateway_ports or [free_port() for _ in range(self.instances)]
        self.rasa_ports = self.rasa_ports or [free_port() for _ in range(self.instances)]
        self.action_ports = [free_port() for _ in range(self.action_servers)]
        self.rasa_proxy_port, self.actions_proxy_port = free_port(), free_port()
        self.public_url = f"http://127.0.0.1:{self.proxy_port}"
        self.database_url = database_url(self.postgres_admin_url, self.db_name)
        env = {
            "VETRINA_ENV": "production",
            "DATABASE_URL": self.database_url,
            "RASA_TRACKER_STORE_URL": database_url(self.postgres_admin_url, self.tracker_db_name),
            "RASA_LOCK_STORE_URL": self.redis_url.rsplit("/", 1)[0] + "/1",
            "REDIS_URL": self.redis_url,
            "VETRINA_PUBLIC_URL": (self.advertised_url or self.public_url).rstrip("/"),
            # nginx on this machine appends the client's address to X-Forwarded-For.
            "VETRINA_TRUSTED_PROXIES": "127.0.0.1",
            "VETRINA_LOG_FORMAT": "json",
            **self.extra_env,
        }
        # Ports.actions is what the gateways check and Rasa calls: nginx's actions port.
        self.stack = Stack(
            Ports(gateway=self.gateway_ports[0], rasa=self.rasa_ports[0],
                  actions=self.actions_proxy_port),
            var=self.var, extra_env=env,
        )
        self.actions = [
            _supervised(self.stack.actions(port, f"actions-{i + 1}"))
            for i, port in enumerate(self.action_ports)
        ]
        self.rasas = [
            _supervised(self.stack.rasa(port, f"rasa-{i + 1}"))
            for i, port in enumerate(self.rasa_ports)
        ]
        self.gateways = [
            _supervised(
                self.stack.gateway(port, f"gateway-{i + 1}", rasa_port=self.rasa_proxy_port)
            )
            for i, port in enumerate(self.gateway_ports)
        ]
        self.nginx_conf = self.var / "nginx" / "nginx.conf"
        nginx = nginx_binary()
        self.proxy = Supervised(
            "nginx",
            [str(nginx or "nginx"), "-c", str(self.nginx_conf), "-p", str(self.nginx_conf.parent)],
            f"{self.public_url}/healthz",
            dict(self.stack._env()),
            self.var / "log" / "nginx.log",
        )
        self.rasa_proxy = Supervised(
            "rasa-proxy", [], f"http://127.0.0.1:{self.rasa_proxy_port}/", {},
            self.var / "log" / "nginx.log",
        )  # nginx's Rasa port: readiness only (nginx itself is ``proxy``)
        run = self.var / "run"
        self.supervisor = Supervisor(
            self.var / "supervisord.conf", run / "supervisor.sock", self.stack._env(),
            self.var / "log" / "supervisord.out",
        )

    @property
    def services(self) -> list[Supervised]:
        return [*self.actions, *self.rasas, *self.gateways, self.proxy]

    def write_configs(self) -> None:
        """nginx.conf (checked with ``nginx -t``) and supervisord.conf under ``var``."""
        (self.var / "log").mkdir(parents=True, exist_ok=True)
        (self.var / "run").mkdir(parents=True, exist_ok=True)
        self.nginx_conf.parent.mkdir(parents=True, exist_ok=True)
        self.nginx_temp = nginx_temp_dir(self.nginx_conf.parent)
        prepare_nginx_dirs(self.nginx_temp)
        self.nginx_conf.write_text(
            render_nginx(
                run_dir=self.nginx_conf.parent, log_dir=self.var / "log", temp_dir=self.nginx_temp,
                listen=f"{self.proxy_host}:{self.proxy_port}", gateways=self.gateway_ports,
                rasas=self.rasa_ports, actions=self.action_ports,
                rasa_port=self.rasa_proxy_port, actions_port=self.actions_proxy_port,
            ),
            encoding="utf-8",
        )
        check_nginx_config(self.nginx_conf)
        prepare_nginx_dirs(self.nginx_temp)
        write_endpoints(
            self.var / "endpoints.yml", self.actions_proxy_port, self.var / "rasa-tracker.db",
            self.stack._env(),
        )
        programs = [(s, 100) for s in self.actions] + [(s, 200) for s in self.rasas]
        programs += [(s, 300) for s in self.gateways] + [(self.proxy, 400)]
        # Rasa starts once the gateways answer: loading two models takes both cores for
        # a while, and the gateways (which take and store messages meanwhile) come first.
        (self.var / "supervisord.conf").write_text(
            render_supervisord(self.var, programs, self.stack._env(),
                               later=[rasa.name for rasa in self.rasas]),
            encoding="utf-8",
        )

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
        """supervisord starts the action servers, gateways and nginx, then (once the
        gateways answer) the Rasa servers."""
        self.write_configs()
        self.supervisor.launch()
        for service in self.services:
            service.supervisor = self.supervisor
        self.rasa_proxy.supervisor = self.supervisor
        for service in [*self.gateways, self.proxy]:
            service.wait_ready(timeout=90)
        for rasa in self.rasas:
            rasa.start()
        if wait_rasa:
            for action_server in self.actions:
                action_server.wait_ready(timeout=120)
            for rasa in self.rasas:
                rasa.wait_ready(timeout=300)
            self.rasa_proxy.wait_ready(timeout=30)

    def restart(self, service: Service, timeout: float = 300) -> Service:
        """Have ``service`` running again (supervisord restarts a killed one by itself;
        a stopped one is started) and wait until it is ready."""
        service.start()
        service.wait_ready(timeout=timeout)
        return service

    def stop(self) -> None:
        self.supervisor.shutdown()
        temp = getattr(self, "nginx_temp", None)
        if temp is not None and temp != self.nginx_conf.parent:
            shutil.rmtree(temp, ignore_errors=True)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    admin = os.environ.get(
        "VETRINA_PROD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    proxy_port = int(os.environ.get("VETRINA_PORT", "8080"))
    if port_in_use(proxy_port):
        print(f"error: port {proxy_port} already in use (VETRINA_PORT)", file=sys.stderr)
        return 1
    topology = Topology(
        Path(args.var) if args.var else VAR / "prod", admin, redis_url,
        instances=args.instances, proxy_port=proxy_port, action_servers=args.action_servers,
        proxy_host=os.environ.get("VETRINA_HOST") or "127.0.0.1",
        advertised_url=os.environ.get("VETRINA_PUBLIC_URL") or None,
    )
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        print("Preparing databases and migrations…", flush=True)
        topology.prepare(demo=args.demo)
        started = time.monotonic()
        topology.start(wait_rasa=False)
        env = topology.stack._env()
        print(
            f"\nVetrina (production topology, VETRINA_ENV={env['VETRINA_ENV']}) is up "
            f"({time.monotonic() - started:.0f}s):\n"
            f"  {topology.public_url}/   nginx (public address: {env['VETRINA_PUBLIC_URL']})\n"
            + "".join(f"  http://127.0.0.1:{p}/   gateway-{i + 1} (/metrics for Prometheus)\n"
                      for i, p in enumerate(topology.gateway_ports))
            + "".join(f"  http://127.0.0.1:{p}/   rasa-{i + 1}\n"
                      for i, p in enumerate(topology.rasa_ports))
            + f"Logs: {topology.var / 'log'} (nginx-access.log, one file per program).\n"
            f"Processes: .venv/bin/supervisorctl -c {topology.var / 'supervisord.conf'} status\n"
            + ("Demo retailer loaded.\n" if args.demo else "No demo data (--demo loads it).\n")
            + "Press Ctrl-C to stop.\n",
            flush=True,
        )
        for action_server in topology.actions:
            action_server.wait_ready(timeout=120)
        for rasa in topology.rasas:
            rasa.wait_ready(timeout=300)
        print(f"Assistants ready ({time.monotonic() - started:.0f}s).", flush=True)
        reported: dict[str, str] = {}
        supervisord = topology.supervisor.process
        while supervisord is not None and supervisord.poll() is None:
            for name, state in topology.supervisor.states().items():
                if state == "FATAL" and reported.get(name) != state:
                    print(f"{name} keeps failing to start (FATAL); the others keep running. "
                          f"See {topology.var / 'log' / name}.log", flush=True)
                reported[name] = state
            time.sleep(2)
        print("error: supervisord stopped", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except (RuntimeError, httpx.HTTPError, OSError, xmlrpc.client.Error) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        print("\nStopping…", flush=True)
        topology.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.prod")
    sub = parser.add_subparsers(dest="command", required=True)
    runner = sub.add_parser("run", help="start the production topology on this machine")
    runner.add_argument("--instances", type=int, default=2, help="gateways and Rasa servers")
    runner.add_argument("--action-servers", type=int, default=2)
    runner.add_argument("--demo", action="store_true", help="load the demo retailer")
    runner.add_argument("--var", help="data, config and log folder (default: var/prod)")
    runner.set_defaults(func=run)
    args = parser.parse_args()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
