"""docker-compose.yml holds together (there is no Docker engine here to start it): the
services of the production topology, health checks and restart policies, dependencies
and volumes that exist, files it mounts, and variables documented in .env.example.

Also: the trainer retrains exactly when the training data changes (its script, run here
with a stand-in for rasa), Rasa's token is never on its command line, Prometheus scrapes
both gateways and its alert rules name metrics the gateway exports, and the compose
nginx config passes ``nginx -t`` once its service names point at this machine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
BASH = shutil.which("bash") or "/bin/bash"
LONG_RUNNING = [
    "postgres", "redis", "actions-1", "actions-2", "rasa-1", "rasa-2", "gateway-1", "gateway-2",
    "proxy", "prometheus",
]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_the_topology_is_all_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(LONG_RUNNING) <= set(services)
    for name in ("rasa-1", "rasa-2", "model"):
        assert services[name]["image"] == "rasa/rasa:3.6.21"
    for name in ("gateway-1", "gateway-2", "actions-1", "actions-2"):
        build = services[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()
    assert services["gateway-1"]["environment"]["RASA_URL"] == "http://proxy:5005"
    assert services["gateway-1"]["environment"]["ACTION_SERVER_URL"] == "http://proxy:5055"
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
    # Either action server, through the proxy.
    assert endpoints["action_endpoint"]["url"] == "http://proxy:5055/webhook"


def test_proxy_balances_both_gateways_with_websocket_upgrade() -> None:
    conf = (ROOT / "docker" / "nginx" / "nginx.conf").read_text()
    assert "server gateway-1:8080" in conf and "server gateway-2:8080" in conf
    assert "hash $sticky_key consistent" in conf  # sticky socket.io polling sessions
    assert "proxy_set_header Upgrade $http_upgrade" in conf
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for" in conf
    # Rasa and the action servers behind the same nginx; only refused connections move on.
    assert "server rasa-1:5005" in conf and "server rasa-2:5005" in conf
    assert "server actions-1:5055" in conf and "server actions-2:5055" in conf
    assert conf.count("proxy_next_upstream error timeout;") == 2


def test_the_compose_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    """The http-level snippet, wrapped as the nginx image does, with the service names
    and ports pointed at this machine (nginx -t resolves every upstream host)."""
    from scripts.prod import nginx_binary
    from tests.conftest import free_port, skip_or_fail

    nginx = nginx_binary()
    if nginx is None:
        skip_or_fail("nginx is not installed (make run-prod installs it)")
    conf = (ROOT / "docker" / "nginx" / "nginx.conf").read_text()
    conf = re.sub(r"\b(gateway|rasa|actions)-\d:", "127.0.0.1:", conf)
    for port in ("8080", "5005", "5055"):
        conf = conf.replace(f"listen {port};", f"listen 127.0.0.1:{free_port()};")
    conf = conf.replace("/var/log/nginx/access.log", str(tmp_path / "access.log"))
    wrapped = tmp_path / "nginx.conf"
    wrapped.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{\nclient_body_temp_path {tmp_path}/body;\nproxy_temp_path {tmp_path}/proxy;\n"
        f"{conf}\n}}\n"
    )
    result = subprocess.run(
        [str(nginx), "-t", "-c", str(wrapped), "-p", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_rasa_token_is_not_on_the_command_line(compose: dict[str, Any]) -> None:
    for name in ("rasa-1", "rasa-2"):
        service = compose["services"][name]
        argv = [*service["entrypoint"], *service["command"]]
        assert "--auth-token" not in argv and not any("RASA_TOKEN" in arg for arg in argv)
        assert service["entrypoint"] == ["python", "/app/run_rasa.py"]
        assert "./docker/rasa/run_rasa.py:/app/run_rasa.py:ro" in service["volumes"]
        assert service["env_file"] == ".env"  # RASA_TOKEN (or RASA_TOKEN_FILE) from there


def test_run_rasa_takes_the_token_from_a_file_or_the_environment(tmp_path: Path) -> None:
    """The launcher adds the token inside the process; without one it refuses to start."""
    import sys

    fake = tmp_path / "rasa" / "__main__.py"  # a stand-in rasa: parses -t as Rasa's CLI does
    fake.parent.mkdir()
    (fake.parent / "__init__.py").write_text("")
    fake.write_text(
        "import argparse, sys\n"
        "def main():\n"
        "    parser = argparse.ArgumentParser()\n"
        "    parser.add_argument('-t', '--auth-token')\n"
        "    known, _ = parser.parse_known_args(sys.argv[1:])\n"
        "    print('token=' + known.auth_token)\n"
    )
    launcher = str(ROOT / "docker" / "rasa" / "run_rasa.py")
    base = {k: v for k, v in os.environ.items() if not k.startswith("RASA_TOKEN")}
    base["PYTHONPATH"] = str(tmp_path)

    def launch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, launcher, "run", *args], env={**base, **env},
                              capture_output=True, text=True, check=False)

    from_env = launch({"RASA_TOKEN": "env-token"})
    assert from_env.returncode == 0 and "token=env-token" in from_env.stdout
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n")
    from_file = launch({"RASA_TOKEN_FILE": str(token_file), "RASA_TOKEN": "ignored"})
    assert "token=file-token" in from_file.stdout
    # token_urlsafe() starts with "-" one time in 64: Rasa must still get it as the token.
    dashed = launch({"RASA_TOKEN": "-Ab3_x"})
    assert dashed.returncode == 0 and "token=-Ab3_x" in dashed.stdout, dashed.stderr
    assert launch({}).returncode != 0  # no token: Rasa's API would be open
    assert launch({"RASA_TOKEN": "x"}, "--auth-token", "argv-token").returncode != 0


def _training_copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "config.yml", project / "config.yml")
    (project / "bot").mkdir()
    shutil.copytree(ROOT / "bot" / "domain", project / "bot" / "domain")
    shutil.copytree(ROOT / "bot" / "data", project / "bot" / "data")
    shutil.copytree(ROOT / "nlu_data", project / "nlu_data")
    return project


def test_the_trainer_retrains_only_when_the_training_data_changes(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    trainer = compose["services"]["model"]
    assert trainer["entrypoint"] == ["bash", "/app/train-if-changed.sh"]
    assert "./docker/rasa/train-if-changed.sh:/app/train-if-changed.sh:ro" in trainer["volumes"]
    project, models = _training_copy(tmp_path), tmp_path / "models"
    models.mkdir()
    calls = tmp_path / "calls"
    rasa = tmp_path / "rasa"  # a stand-in for `rasa train`: records the call, writes a model
    rasa.write_text(
        "#!/usr/bin/env bash\n"
        f"echo \"$*\" >> {calls}\n"
        'while [ "$1" != "--out" ]; do shift; done; touch "$2/vetrina.tar.gz"\n'
    )
    rasa.chmod(0o755)
    env = {**os.environ, "MODELS_DIR": str(models), "RASA": str(rasa)}

    def train() -> int:
        subprocess.run([BASH, str(ROOT / "docker" / "rasa" / "train-if-changed.sh")],
                       cwd=project, env=env, check=True, capture_output=True)
        return len(calls.read_text().splitlines()) if calls.exists() else 0

    assert train() == 1  # no model yet
    assert train() == 1  # same data: nothing to do
    (models / "vetrina.tar.gz").unlink()
    assert train() == 2  # model gone
    nlu = sorted((project / "nlu_data").rglob("*.yml"))[0]
    nlu.write_text(nlu.read_text() + "\n")
    assert train() == 3  # the data changed
    assert train() == 3
    (project / "bot" / "data" / "extra.yml").write_text('version: "3.1"\n')
    assert train() == 4  # a new file counts too
    assert "--fixed-model-name vetrina" in calls.read_text()


def test_prometheus_scrapes_both_gateways_and_loads_the_alerts(compose: dict[str, Any]) -> None:
    service = compose["services"]["prometheus"]
    assert service["image"].startswith("prom/prometheus:")
    mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
    config = YAML(typ="safe").load((ROOT / mounts["/etc/prometheus/prometheus.yml"]).read_text())
    assert "--config.file=/etc/prometheus/prometheus.yml" in service["command"]
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert sorted(targets) == ["gateway-1:8080", "gateway-2:8080"]
    for target in targets:  # the services exist and listen there
        name, port = target.split(":")
        assert compose["services"][name]["environment"]["VETRINA_PORT"] == port
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    assert "/etc/prometheus/alerts.yml" in mounts


def test_alert_rules_are_well_formed_and_name_exported_metrics() -> None:
    """Prometheus rule-file structure, by hand (no promtool here): every rule has an
    alert name, an expression over metrics the gateway exports, a duration, a severity
    and a summary; queue depth and Rasa unavailability are covered."""
    from vetrina.observability.metrics import REGISTRY

    exported = {"up"}
    for family in REGISTRY.collect():
        exported |= {sample.name for sample in family.samples} | {family.name}
    rules = YAML(typ="safe").load((ROOT / "docker" / "prometheus" / "alerts.yml").read_text())
    [group] = rules["groups"]
    assert set(group) == {"name", "rules"}
    exprs: dict[str, str] = {}
    for rule in group["rules"]:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        functions = {"max", "sum", "rate", "by", "without", "avg", "increase"}
        bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", rule["expr"])  # no label matchers, ranges
        names = set(re.findall(r"\b([a-z_][a-z0-9_]*)\b", bare))
        assert names - functions <= exported, (rule["alert"], names - functions - exported)
        assert rule["expr"].count("(") == rule["expr"].count(")")
        exprs[rule["alert"]] = rule["expr"]
    assert any('vetrina_queue_depth{queue="inbound"}' in e for e in exprs.values())
    assert any("vetrina_rasa_unavailable_total" in e for e in exprs.values())


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
