"""docker-compose.yml holds together (there is no Docker engine here to start it): the
services of the production topology, health checks and restart policies, dependencies
and volumes that exist, files it mounts, and variables documented in .env.example."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
LONG_RUNNING = ["postgres", "redis", "actions", "rasa-1", "rasa-2", "gateway-1", "gateway-2", "proxy"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())


def test_the_topology_is_all_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(LONG_RUNNING) <= set(services)
    for name in ("rasa-1", "rasa-2", "model"):
        assert services[name]["image"] == "rasa/rasa:3.6.21"
    for name in ("gateway-1", "gateway-2", "actions"):
        build = services[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()
    assert services["gateway-1"]["environment"]["RASA_URL"] == "http://proxy:5005"
    for name in ("gateway-1", "gateway-2"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:")


def test_every_long_running_service_is_checked_and_restarted(compose: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        service = compose["services"][name]
        assert service.get("restart") in {"unless-stopped", "always"}, name
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, name


def test_dependencies_volumes_and_mounts_exist(compose: dict[str, Any]) -> None:
    services, volumes = compose["services"], compose["volumes"]
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        for dependency, rule in (depends.items() if isinstance(depends, dict) else []):
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if rule.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in volumes, f"{name} uses undeclared volume {source}"
    assert {"postgres-data", "redis-data", "models"} <= set(volumes)
    # The two Rasa servers share one model volume, the one the trainer writes.
    shared = {m.split(":")[0] for m in services["rasa-1"]["volumes"]} & {
        m.split(":")[0] for m in services["model"]["volumes"]
    }
    assert "models" in shared


def test_variables_are_documented_in_env_example(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    documented = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert used and used <= documented, used - documented


def test_rasa_shares_trackers_in_postgres_and_locks_in_redis() -> None:
    endpoints = YAML(typ="safe").load((ROOT / "docker" / "rasa" / "endpoints.yml").read_text())
    assert endpoints["tracker_store"]["type"] == "SQL"
    assert endpoints["tracker_store"]["dialect"] == "postgresql"
    assert endpoints["lock_store"]["type"] == "redis" and endpoints["lock_store"]["url"] == "redis"
    assert endpoints["action_endpoint"]["url"] == "http://actions:5055/webhook"


def test_proxy_balances_both_gateways_with_websocket_upgrade() -> None:
    conf = (ROOT / "docker" / "nginx" / "nginx.conf").read_text()
    assert "server gateway-1:8080" in conf and "server gateway-2:8080" in conf
    assert "ip_hash" in conf  # sticky socket.io polling sessions
    assert "proxy_set_header Upgrade $http_upgrade" in conf
    # Rasa behind the same nginx: both servers, and only refused connections move on.
    assert "server rasa-1:5005" in conf and "server rasa-2:5005" in conf
    assert "proxy_next_upstream error timeout;" in conf


def test_make_run_prod_writes_the_same_rasa_stores(tmp_path: Path) -> None:
    from scripts.stack import write_endpoints

    path = write_endpoints(
        tmp_path / "endpoints.yml", 5055, tmp_path / "t.db",
        {"RASA_TRACKER_STORE_URL": "postgresql://u:p@127.0.0.1:5432/vetrina_rasa",
         "RASA_LOCK_STORE_URL": "redis://127.0.0.1:6380/1"},
    )
    endpoints = YAML(typ="safe").load(path.read_text())
    assert endpoints["tracker_store"]["dialect"] == "postgresql"
    assert endpoints["lock_store"] == {
        "type": "redis", "url": "127.0.0.1", "port": 6380, "db": 1, "key_prefix": "vetrina"
    }
