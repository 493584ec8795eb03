"""docker-compose.yml, its camera override, the Dockerfile and .env.example.

The compose files are parsed and validated by Debian's ``docker-compose`` (``config``
needs no Docker engine); no image is built and no container is started here.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.acl import ROLES, password_variable, user
from common.defaults import DEFAULT_PUBSUB_OUTPUT_LIMIT
from common.settings import Settings
from tests.monitoring import GRAFANA_PROVISIONING, REPO, load_yaml, require_binary
from worker.pool import STOP_GRACE_SECONDS

COMPOSE = REPO / "docker-compose.yml"
CAMERA_OVERRIDE = REPO / "docker-compose.camera.yml"
TLS_OVERRIDE = REPO / "docker-compose.tls.yml"
CLIENTS = {
    "worker": "worker",
    "producer": "producer",
    "tracks": "tracker",
    "results": "reader",
    "web": "web",
}  # service: user
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"


def compose(*args: str, env_file: Path | None = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    command = [require_binary("docker-compose"), "--project-directory", str(REPO)]
    if env_file is not None:
        command += ["--env-file", str(env_file)]
    # only what compose needs: the test must not pick up a developer's REDIS_PASSWORD
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=60, env=env, cwd=REPO
    )


def resolved(*files: Path, profile: str | None = None) -> dict[str, Any]:
    args = [arg for path in files for arg in ("-f", str(path))]
    if profile:
        args += ["--profile", profile]
    result = compose(*args, "config")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    services: dict[str, Any] = resolved(COMPOSE)["services"]
    return services


def test_compose_files_are_valid() -> None:
    for files in ([COMPOSE], [COMPOSE, CAMERA_OVERRIDE], [COMPOSE, TLS_OVERRIDE]):
        args = [arg for path in files for arg in ("-f", str(path))]
        checked = compose(*args, "config", "--quiet")
        assert checked.returncode == 0, checked.stderr


def test_the_stack_has_every_service_and_rq_dashboard_is_optional(stack: dict[str, Any]) -> None:
    default = {name for name, service in stack.items() if not service.get("profiles")}
    assert default == {
        *("redis", "worker", "producer", "tracks", "web", "prometheus", "grafana"),
        "redis-exporter",
    }
    assert stack["rq-dashboard"]["profiles"] == ["tools"]  # started with `--profile tools`
    assert "rq-dashboard" in resolved(COMPOSE, profile="tools")["services"]


def test_redis_users_and_their_passwords_come_from_the_env_file(stack: dict[str, Any]) -> None:
    """The admin and one ACL user per role, with `ferstream acl`'s rules; every client
    logs in as its role's user, its password in its environment, never in a URL."""
    passwords = env_example()
    redis = stack["redis"]
    script = container_command(redis)[-1]
    assert "requirepass $REDIS_PASSWORD\n" in script
    for role in ROLES:
        rules = user(Settings(), role).rules()
        line = f"user {role} reset on >${password_variable(role)} {rules}\n"
        assert line in script, f"update docker-compose.yml's {role} from `ferstream acl`"
        assert redis["environment"][password_variable(role)] == passwords[password_variable(role)]
    assert redis["environment"]["REDIS_PASSWORD"] == passwords["REDIS_PASSWORD"]
    assert "--requirepass" not in script  # nothing secret on redis-server's command line
    for service, role in CLIENTS.items():
        environment = stack[service]["environment"]
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["FERSTREAM_REDIS_USERNAME"] == role
        assert environment["FERSTREAM_REDIS_PASSWORD"] == passwords[password_variable(role)]
    assert stack["redis-exporter"]["environment"]["REDIS_PASSWORD"] == passwords["REDIS_PASSWORD"]
    text = COMPOSE.read_text()
    assert not any(value in text for value in passwords.values() if "CHANGE-ME" in value)


def test_the_tls_override_makes_every_client_verify_rediss() -> None:
    services = resolved(COMPOSE, TLS_OVERRIDE, profile="tools")["services"]
    listen = services["redis"]["environment"]["REDIS_LISTEN_ARGS"].split()
    assert listen[:4] == ["--port", "0", "--tls-port", "6379"]  # no plain-text port left
    assert "--tls-ca-cert-file" in listen and "--tls-cert-file" in listen
    assert "--tls" in services["redis"]["healthcheck"]["test"][-1]
    for service, role in CLIENTS.items():
        environment = services[service]["environment"]
        assert environment["REDIS_URL"] == "rediss://redis:6379/0"
        assert environment["FERSTREAM_REDIS_TLS_CA_FILE"] == "/tls/ca.crt"
        assert environment["FERSTREAM_REDIS_USERNAME"] == role  # kept from the base file
        assert any(v.endswith(":/tls/ca.crt:ro") for v in services[service]["volumes"])
    assert services["redis-exporter"]["environment"]["REDIS_ADDR"] == "rediss://redis:6379"


def test_redis_drops_a_subscriber_that_stops_reading(stack: dict[str, Any]) -> None:
    """The same bound on an unread results subscriber as the embedded server's."""
    limit = " ".join(("pubsub", *DEFAULT_PUBSUB_OUTPUT_LIMIT))
    assert f"--client-output-buffer-limit {limit}" in " ".join(stack["redis"]["command"])


def test_compose_refuses_to_start_without_a_redis_password() -> None:
    result = compose("-f", str(COMPOSE), "config", env_file=None)
    assert result.returncode != 0
    assert "set REDIS_PASSWORD in .env" in result.stderr


def test_nothing_is_published_beyond_localhost(stack: dict[str, Any]) -> None:
    published = {
        name: service.get("ports", []) for name, service in stack.items() if service.get("ports")
    }
    assert set(published) == {"redis", "prometheus", "grafana", "web", "rq-dashboard"}
    for name, ports in published.items():
        for port in ports:
            text = port if isinstance(port, str) else f"{port.get('host_ip')}:{port}"
            assert text.startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"


def test_workers_scale_stop_gracefully_and_report_health(stack: dict[str, Any]) -> None:
    worker = stack["worker"]
    # a container_name or a published port would make `--scale worker=N` fail
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["expose"] == ["9100"]
    assert worker["environment"]["FERSTREAM_METRICS_PORT"] == "9100"
    assert worker["command"] == ["ferstream", "worker"]
    assert worker["stop_signal"] == "SIGTERM"
    assert _seconds(worker["stop_grace_period"]) > STOP_GRACE_SECONDS  # the pool's own grace
    assert worker["healthcheck"]["test"] == ["CMD", "python", "-m", "worker.healthcheck"]
    assert worker["init"] is True


def test_the_producer_serves_metrics_where_prometheus_looks(stack: dict[str, Any]) -> None:
    producer = stack["producer"]
    command = producer["command"]
    assert command[:2] == ["ferstream", "produce"]
    assert command[command.index("--metrics-port") + 1] == "9101"
    assert "--source" not in command  # a stream URL may carry a password: never in argv
    assert producer["environment"]["FERSTREAM_SOURCE"] == "motion:/data/fer2013"
    assert producer["expose"] == ["9101"]


def test_the_live_view_listens_beyond_its_container_only_with_a_token(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    web = stack["web"]
    command = web["command"]
    assert command[:2] == ["ferstream", "web"]
    assert command[command.index("--host") + 1] == "0.0.0.0"  # hence credentials, below
    assert web["environment"]["FERSTREAM_WEB_TOKEN"] == env_example()["WEB_TOKEN"]
    assert not any("TOKEN" in part or "PASSWORD" in part for part in command)
    assert [str(port).split("/")[0] for port in web["ports"]] == ["127.0.0.1:8090:8090"]
    # its metrics for Prometheus on the stack's network only (monitoring/prometheus.yml)
    assert command[command.index("--metrics-port") + 1] == "9103"
    assert web["expose"] == ["9103"]
    assert "/healthz" in " ".join(web["healthcheck"]["test"])
    missing = compose("-f", str(COMPOSE), "config", env_file=_env_without(tmp_path, "WEB_TOKEN"))
    assert missing.returncode != 0 and "set WEB_TOKEN in .env" in missing.stderr


def _env_without(folder: Path, key: str) -> Path:
    path = folder / "without.env"
    path.write_text("\n".join(line for line in _env_lines() if not line.startswith(key + "=")))
    return path


def test_the_camera_override_uses_the_webcam_device() -> None:
    producer = resolved(COMPOSE, CAMERA_OVERRIDE)["services"]["producer"]
    assert "--source" not in producer["command"]
    assert producer["environment"]["FERSTREAM_SOURCE"] == "0"
    assert producer["devices"] == ["/dev/video0:/dev/video0"]


def test_prometheus_and_grafana_load_the_repository_files(stack: dict[str, Any]) -> None:
    mounts = {
        service: {_volume(v)[1]: _volume(v)[0] for v in stack[service]["volumes"]}
        for service in ("prometheus", "grafana")
    }
    prometheus = mounts["prometheus"]
    assert prometheus["/etc/prometheus/prometheus.yml"] == str(REPO / "monitoring/prometheus.yml")
    assert prometheus["/etc/prometheus/alerts.yml"] == str(REPO / "monitoring/alerts.yml")
    grafana = mounts["grafana"]
    assert grafana["/etc/grafana/provisioning"] == str(GRAFANA_PROVISIONING)
    [provider] = load_yaml(GRAFANA_PROVISIONING / "dashboards/ferstream.yml")["providers"]
    dashboards_dir = provider["options"]["path"]
    assert grafana[dashboards_dir] == str(REPO / "monitoring/grafana/dashboards")
    [datasource] = load_yaml(GRAFANA_PROVISIONING / "datasources/prometheus.yml")["datasources"]
    assert (datasource["type"], datasource["url"]) == ("prometheus", "http://prometheus:9090")


def test_the_dockerfile_installs_like_the_readme_runs_as_non_root_with_the_model() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.MULTILINE)
    assert "RUN pip install . " in text  # the README's install, not editable
    assert re.search(r"^USER (?!root)\w+", text, re.MULTILINE)
    assert "COPY models/ferstream-mnv2.keras" in text
    assert "FERSTREAM_MODEL_PATH=/app/models/ferstream-mnv2.keras" in text
    assert (REPO / "models/ferstream-mnv2.keras").is_file()
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert {".venv", "data", ".env", "!models/ferstream-mnv2.keras"} <= set(ignored)
    # every package the project installs is copied in before `pip install .`
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in config["tool"]["setuptools"]["packages"]["find"]["include"]]
    for package in packages:
        assert f"COPY {package}/ {package}/" in text, f"the image lacks {package}/"


def test_the_env_example_holds_placeholders_only() -> None:
    values = env_example()
    roles = [password_variable(role) for role in ROLES]
    for key in ("REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "WEB_TOKEN", *roles):
        assert values[key].startswith("CHANGE-ME"), f"{key} must be a placeholder"
    assert "/.env" in (REPO / ".gitignore").read_text().splitlines()


def container_command(service: dict[str, Any]) -> list[str]:
    """A service's command as its container gets it (`config` prints `$` as `$$`)."""
    return [part.replace("$$", "$") for part in service["command"]]


def env_example() -> dict[str, str]:
    return dict(line.split("=", 1) for line in _env_lines())


def _env_lines() -> list[str]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def _volume(spec: str) -> tuple[str, str]:
    source, target = spec.split(":")[:2]
    return source, target


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", duration)
    assert match, duration
    return int(match.group(1) or 0) * 60 + float(match.group(2) or 0)
