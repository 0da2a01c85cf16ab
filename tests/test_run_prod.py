"""`make run-prod` on real parts (issue 17, part 6): Debian's nginx with the rendered
deploy/nginx/vetrina.conf.in, and supervisord with the rendered programs.

The nginx tests run the real nginx in front of small aiohttp upstreams: balancing,
sticky socket.io polling, failover from a dead instance, WebSocket upgrade,
X-Forwarded-For appended (not replaced), the access log, and Rasa's and the action
servers' upstreams. The supervisord tests run the real supervisord: a killed program is
restarted and the others keep their pids; a program that cannot start backs off and
ends FATAL on its own. The whole topology under failures is
tests/e2e/test_production_failures.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from scripts.prod import (
    Supervised,
    Supervisor,
    Topology,
    check_nginx_config,
    nginx_binary,
    nginx_temp_dir,
    prepare_nginx_dirs,
    render_nginx,
    render_supervisord,
    supervisord_binary,
)
from scripts.stack import Service
from tests.conftest import free_port, skip_or_fail


def _wait_port(port: int, timeout: float = 10) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


class Upstream:
    """A stand-in gateway: says who it is and what headers it got; echoes WebSockets."""

    def __init__(self, name: str) -> None:
        self.name, self.port = name, free_port()
        self.runner: web.AppRunner | None = None

    async def start(self) -> Upstream:
        async def hello(request: web.Request) -> web.Response:
            return web.json_response({
                "instance": self.name,
                "forwarded_for": request.headers.get("X-Forwarded-For"),
                "request_id": request.headers.get("X-Request-Id"),
            })

        async def echo(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for message in ws:
                await ws.send_str(f"{self.name}:{message.data}")
            return ws

        app = web.Application()
        app.router.add_get("/socket.io/ws", echo)
        app.router.add_route("*", "/{tail:.*}", hello)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


class Nginx:
    def __init__(self, folder: Path, gateways: list[int], rasas: list[int], actions: list[int]):
        self.port, self.rasa_port, self.actions_port = free_port(), free_port(), free_port()
        self.folder, self.log = folder, folder / "log"
        self.log.mkdir(parents=True, exist_ok=True)
        self.conf = folder / "nginx.conf"
        self.temp = nginx_temp_dir(folder)
        self.conf.write_text(render_nginx(
            run_dir=folder, log_dir=self.log, listen=f"127.0.0.1:{self.port}", temp_dir=self.temp,
            gateways=gateways, rasas=rasas, actions=actions,
            rasa_port=self.rasa_port, actions_port=self.actions_port,
        ))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        check_nginx_config(self.conf)
        prepare_nginx_dirs(self.temp)
        self.process = subprocess.Popen(
            [str(nginx_binary()), "-c", str(self.conf), "-p", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        _wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        if self.temp != self.folder:
            shutil.rmtree(self.temp, ignore_errors=True)


def _need(binary: Path | None, what: str) -> None:
    if binary is None:
        skip_or_fail(f"{what} is not installed (make run-prod installs it)")


@pytest_asyncio.fixture
async def upstreams() -> AsyncIterator[list[Upstream]]:
    started = [await Upstream("one").start(), await Upstream("two").start()]
    yield started
    for upstream in started:
        await upstream.stop()


@pytest.fixture
def nginx(tmp_path: Path, upstreams: list[Upstream]) -> Iterator[Nginx]:
    _need(nginx_binary(), "nginx")
    dead = free_port()  # nobody listens there: an instance that is down
    one, two = upstreams
    server = Nginx(tmp_path / "nginx", [one.port, two.port, dead], [dead, two.port],
                   [dead, one.port]).start()
    yield server
    server.stop()


def test_the_rendered_config_passes_nginx_t(tmp_path: Path) -> None:
    _need(nginx_binary(), "nginx")
    server = Nginx(tmp_path, [8081, 8082], [5005, 5006], [5055, 5056])
    try:
        check_nginx_config(server.conf)  # raises with nginx's message when invalid
    finally:
        server.stop()  # never started: only removes its temp folder
    text = server.conf.read_text()
    assert "@@" not in text
    assert "server 127.0.0.1:8081 max_fails=1 fail_timeout=5s;" in text
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in text
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    broken = tmp_path / "broken.conf"
    broken.write_text(text.replace("upstream rasa {", "upstream rasa {\n        nonsense;"))
    with pytest.raises(RuntimeError, match="nginx -t failed"):
        check_nginx_config(broken)


async def test_balancing_stickiness_failover_websockets_forwarding_and_log(
    nginx: Nginx, upstreams: list[Upstream]
) -> None:
    base = f"http://127.0.0.1:{nginx.port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:
        seen = []
        for _ in range(16):  # new clients (no cookie) spread over the live instances
            async with client.get(f"{base}/socket.io/?EIO=4&transport=polling") as response:
                assert response.status == 200  # the dead instance is skipped
                seen.append((await response.json())["instance"])
        assert set(seen) == {"one", "two"}

        async with client.get(f"{base}/socket.io/?EIO=4&transport=polling") as response:
            first = (await response.json())["instance"]
            sticky = response.cookies["vetrina_upstream"].value
        for _ in range(8):  # one polling session stays on one instance
            async with client.post(f"{base}/socket.io/?EIO=4&transport=polling&sid=x",
                                   headers={"Cookie": f"vetrina_upstream={sticky}"},
                                   data="40") as response:
                assert (await response.json())["instance"] == first

        async with client.get(f"{base}/healthz",
                              headers={"X-Forwarded-For": "203.0.113.7"}) as response:
            body = await response.json()
        assert body["forwarded_for"] == "203.0.113.7, 127.0.0.1"  # appended, not replaced
        assert body["request_id"]

        async with client.ws_connect(f"{base}/socket.io/ws") as ws:
            await ws.send_str("ping")
            instance, echoed = str(await ws.receive_str()).split(":")
            assert echoed == "ping" and instance in {"one", "two"}

        # Rasa's and the action servers' ports: a refused connection moves on; a large
        # body (a long tracker) passes (beyond the memory buffer it goes through nginx's
        # temp folder, which its unprivileged workers must be able to write).
        big = {"tracker": "x" * 3_000_000}
        for port in (nginx.rasa_port, nginx.actions_port):
            for body in ({}, {}, big, big):
                async with client.post(f"http://127.0.0.1:{port}/webhook", json=body) as response:
                    assert response.status == 200

        stays = next(u for u in upstreams if u.name != first)
        gone = next(u for u in upstreams if u.name == first)
        await gone.stop()  # that session's instance dies: its requests go to the other
        for _ in range(6):
            async with client.get(f"{base}/socket.io/?EIO=4&transport=polling&sid=x",
                                  headers={"Cookie": f"vetrina_upstream={sticky}"}) as response:
                assert response.status == 200
                assert (await response.json())["instance"] == stays.name

    access = (nginx.log / "nginx-access.log").read_text()
    assert "GET /healthz HTTP/1.1\" 200" in access and '"203.0.113.7"' in access
    assert access.count("\n") >= 16 + 1 + 8 + 1 + 1 + 8 + 6


def _program(var: Path, name: str, code: str) -> Service:
    log = var / "log" / f"{name}.log"
    return Service(name, [sys.executable, "-c", code], "", {**os.environ}, log)


SERVE = (
    "import http.server as h; "
    "h.HTTPServer(('127.0.0.1', {port}), h.SimpleHTTPRequestHandler).serve_forever()"
)


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[tuple[Supervisor, dict[str, int]]]:
    _need(supervisord_binary(), "supervisord")
    var = tmp_path / "var"
    (var / "run").mkdir(parents=True)
    (var / "log").mkdir()
    ports = {"web-a": free_port(), "web-b": free_port()}
    programs = [(_program(var, name, SERVE.format(port=port)), 100) for name, port in ports.items()]
    programs.append((_program(var, "broken", "raise SystemExit(3)"), 200))
    env = {**os.environ, "DATABASE_URL": "postgresql://vetrina:s3cret-password@db/vetrina"}
    conf = var / "supervisord.conf"
    conf.write_text(render_supervisord(var, programs, env, start_retries=2))
    control = Supervisor(
        conf, var / "run" / "supervisor.sock", env, var / "log" / "supervisord.out"
    )
    control.launch()
    yield control, ports
    control.shutdown()


def test_the_secrets_stay_out_of_the_supervisord_file(tmp_path: Path) -> None:
    var = tmp_path
    base = {"DATABASE_URL": "postgresql://vetrina:s3cret-password@db/vetrina", "A": "1"}
    gateway = Service("gateway-1", ["vetrina", "serve"], "", {**base, "VETRINA_PORT": "8081",
                      "NOTE": '50% "quoted"'}, var / "g.log")
    text = render_supervisord(var, [(gateway, 300)], base)
    assert "s3cret" not in text
    assert 'environment=NOTE="50%% \\"quoted\\"",VETRINA_PORT="8081"' in text
    assert "autorestart=true" in text and "startretries=10" in text


async def test_a_killed_program_is_restarted_and_the_others_keep_running(
    supervisor: tuple[Supervisor, dict[str, int]],
) -> None:
    control, ports = supervisor
    for port in ports.values():
        await asyncio.to_thread(_wait_port, port)
    deadline = time.monotonic() + 30  # past startsecs: a later exit is a crash, not a start
    while any(control.info(name)["statename"] != "RUNNING" for name in ports):
        assert time.monotonic() < deadline, control.states()
        await asyncio.sleep(0.2)
    before = {name: control.info(name)["pid"] for name in ports}
    victim = Supervised("web-a", [], f"http://127.0.0.1:{ports['web-a']}/", {}, Path("x"),
                        supervisor=control)
    victim.stop(kill=True)  # SIGKILL, as the production failure test does
    started = time.monotonic()
    victim.wait_ready(timeout=15)  # supervisord restarted it by itself
    restarted_in = time.monotonic() - started
    assert control.info("web-a")["pid"] != before["web-a"]
    assert control.info("web-b")["pid"] == before["web-b"]  # untouched
    assert restarted_in < 15, restarted_in  # no start call: supervisord did it

    # A program that cannot start backs off and gives up alone; the others keep running.
    deadline = time.monotonic() + 30
    while control.info("broken")["statename"] != "FATAL":
        assert time.monotonic() < deadline, control.info("broken")
        await asyncio.sleep(0.2)
    states = control.states()
    assert states["web-a"] in {"STARTING", "RUNNING"} and states["web-b"] == "RUNNING"
    assert control.info("web-b")["pid"] == before["web-b"]
    log = (Path(control.config).parent / "log" / "supervisord.log").read_text()
    assert log.count("exited: broken (exit status 3; not expected)") == 3  # 1 + 2 retries
    assert "gave up: broken entered FATAL state, too many start retries" in log
    broken = Supervised("broken", [], "http://127.0.0.1:9/", {}, Path("x"), supervisor=control)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"broken failed to start \(supervisord: FATAL\)"):
        broken.wait_ready(timeout=60)  # said at once, not after the whole timeout
    assert time.monotonic() - started < 5

    victim.stop()  # a clean stop stays stopped until started again
    assert control.info("web-a")["statename"] == "STOPPED"
    victim.start()
    victim.wait_ready(timeout=15)


def test_production_mode_two_action_servers_and_the_public_url(tmp_path: Path) -> None:
    topology = Topology(tmp_path / "var", "postgresql://postgres@127.0.0.1:5432/postgres",
                        "redis://127.0.0.1:6379/0", proxy_port=free_port(),
                        advertised_url="https://shop.example.com/")
    env = topology.stack._env()
    assert env["VETRINA_ENV"] == "production"
    assert env["VETRINA_PUBLIC_URL"] == "https://shop.example.com"
    assert topology.public_url == f"http://127.0.0.1:{topology.proxy_port}"
    assert [s.name for s in topology.actions] == ["actions-1", "actions-2"]
    assert len(set(topology.action_ports)) == 2
    for gateway in topology.gateways:  # Rasa and the action servers through nginx
        assert gateway.env["RASA_URL"] == f"http://127.0.0.1:{topology.rasa_proxy_port}"
        assert gateway.env["ACTION_SERVER_URL"] == f"http://127.0.0.1:{topology.actions_proxy_port}"
    for rasa in topology.rasas:
        assert "--auth-token" not in rasa.command and topology.stack.token not in rasa.command
    if nginx_binary() is not None:
        topology.write_configs()
        topology.stop()  # nothing runs: removes nginx's temp folder
        endpoints = (topology.var / "endpoints.yml").read_text()
        assert f"http://127.0.0.1:{topology.actions_proxy_port}/webhook" in endpoints
        conf = (topology.var / "supervisord.conf").read_text()
        for name in ("actions-1", "actions-2", "rasa-1", "rasa-2", "gateway-1", "gateway-2",
                     "nginx"):
            assert f"[program:{name}]" in conf
        assert topology.stack.token not in conf
        # Rasa is started by Topology.start once the gateways answer.
        rasa_section = conf.split("[program:rasa-1]")[1].split("[program:")[0]
        assert "autostart=false" in rasa_section
        assert "autostart=true" in conf.split("[program:gateway-1]")[1].split("[program:")[0]
    # A test or benchmark may still choose its own mode.
    test_mode = Topology(tmp_path / "t", "postgresql://postgres@127.0.0.1:5432/postgres",
                         "redis://127.0.0.1:6379/0", extra_env={"VETRINA_ENV": "test"})
    assert test_mode.stack._env()["VETRINA_ENV"] == "test"
    assert test_mode.stack._env()["VETRINA_PUBLIC_URL"] == test_mode.public_url
