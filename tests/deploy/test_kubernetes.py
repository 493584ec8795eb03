"""The Kubernetes manifests (deploy/kubernetes), validated offline: every overlay renders,
every built-in kind passes kubernetes-validate's schemas for K8S_VERSION, KEDA's and the
Prometheus Operator's kinds pass the schemas vendored in tests/deploy/schemas, and the
autoscaler's queue key, metric names and thresholds are the project's own."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from prometheus_client import CollectorRegistry

from common.acl import ROLES, user
from common.defaults import PROJECT_ROOT
from common.metrics import ProducerMetrics, TrackMetrics, WorkerMetrics
from common.settings import ENV_PREFIX, Settings
from tests.deploy.kustomize import Manifest, kustomize_command, render, render_here
from worker.pool import STOP_GRACE_SECONDS

K8S_VERSION = "1.31.0"  # the Kubernetes version the manifests are checked against
DEPLOY = PROJECT_ROOT / "deploy" / "kubernetes"
OVERLAYS = ("local", "production", "production-hpa")
SCHEMAS = Path(__file__).parent / "schemas"
CUSTOM = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_v1alpha1_scaledobject.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh_v1alpha1_triggerauthentication.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_v1_servicemonitor.json",
}
ALERTS = PROJECT_ROOT / "monitoring" / "alerts.yml"


@cache
def rendered(overlay: str) -> tuple[Manifest, ...]:
    return tuple(render(DEPLOY / "overlays" / overlay))


def find(overlay: str, kind: str, name: str) -> Manifest:
    found = [m for m in rendered(overlay) if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name} in {overlay}, got {len(found)}"
    return found[0]


def key(manifest: Manifest) -> tuple[str, str | None, str]:
    return manifest["kind"], manifest["metadata"].get("namespace"), manifest["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_loader_renders_what_kustomize_renders(overlay: str) -> None:
    if kustomize_command() is None:
        pytest.skip("no kustomize or kubectl here: the overlays render with the loader only")
    real = {key(m): m for m in render(DEPLOY / "overlays" / overlay)}
    mine = {key(m): m for m in render_here(DEPLOY / "overlays" / overlay)}
    assert real == mine


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_manifest_is_valid(overlay: str) -> None:
    manifests = rendered(overlay)
    assert {m["kind"] for m in manifests} >= {"Deployment", "ConfigMap", "Secret"}
    for manifest in manifests:
        schema = CUSTOM.get((manifest["apiVersion"], manifest["kind"]))
        if schema is None:  # a built-in kind: Kubernetes's own schema, unknown fields refused
            kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        else:
            jsonschema.validate(manifest, json.loads((SCHEMAS / schema).read_text()))


def test_a_wrong_field_fails_the_checks() -> None:
    worker = json.loads(json.dumps(find("production", "Deployment", "ferstream-worker")))
    worker["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(worker, K8S_VERSION, strict=True)
    scaled = json.loads(json.dumps(find("production", "ScaledObject", "ferstream-worker")))
    scaled["spec"]["triggers"][0]["metadata"]["threshold"] = 0.25  # KEDA wants strings
    schema = json.loads((SCHEMAS / CUSTOM[("keda.sh/v1alpha1", "ScaledObject")]).read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, schema)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_config_map_names_only_real_settings(overlay: str) -> None:
    data = find(overlay, "ConfigMap", "ferstream-config")["data"]
    fields = {ENV_PREFIX + name.upper() for name in Settings.__dataclass_fields__}
    assert {k for k in data if k != "REDIS_URL"} <= fields
    Settings.from_env(data)  # and every value parses


def declared_metrics() -> set[str]:
    registry = CollectorRegistry()
    for family in (WorkerMetrics, ProducerMetrics, TrackMetrics):
        family.create(registry)
    names = set()
    for collector in registry.collect():
        names |= {sample.name for sample in collector.samples} | {collector.name}
        names |= {collector.name + suffix for suffix in ("_bucket", "_total", "_count", "_sum")}
    return names


def alert_threshold(alert: str) -> float:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"] if rule.get("alert") == alert]
    found = re.search(r">\s*([0-9.]+)\s*$", rules[0]["expr"].strip())
    assert found, rules
    return float(found[1])


def test_the_scaled_object_scales_on_the_projects_own_signals() -> None:
    scaled = find("production", "ScaledObject", "ferstream-worker")
    config = find("production", "ConfigMap", "ferstream-config")["data"]
    settings = Settings.from_env(config)
    spec = scaled["spec"]
    target = find("production", "Deployment", spec["scaleTargetRef"]["name"])
    assert target["spec"]["template"]["spec"]["containers"][0]["command"][1] == "worker"
    assert spec["minReplicaCount"] >= 1 and spec["cooldownPeriod"] > 0
    triggers = {trigger["name"]: trigger for trigger in spec["triggers"]}
    age, drops, queue = triggers["frame-age-p95"], triggers["drop-rate"], triggers["queue-length"]
    used = set(
        re.findall(r"ferstream_[a-z_]+", age["metadata"]["query"] + drops["metadata"]["query"])
    )
    assert used and used <= declared_metrics()
    assert "ferstream_end_to_end_latency_seconds_bucket" in age["metadata"]["query"]
    assert float(age["metadata"]["threshold"]) == alert_threshold("FerstreamLatencySLOBreached")
    assert float(age["metadata"]["threshold"]) < settings.max_frame_age
    assert float(drops["metadata"]["threshold"]) == alert_threshold("FerstreamHighDropRate")
    assert queue["metadata"]["listName"] == f"rq:queue:{settings.queue_name}"
    assert queue["type"] == "redis-sentinel"  # production's Redis runs under Sentinel
    addresses = [a.strip() for a in queue["metadata"]["addresses"].split(",")]
    assert addresses == [f"{host}:{port}" for host, port in settings.sentinels]
    assert queue["metadata"]["sentinelMaster"] == settings.redis_sentinel_master
    auth = find("production", "TriggerAuthentication", queue["authenticationRef"]["name"])
    secret = find("production", "Secret", "ferstream-redis-users")
    assert all(ref["key"] in secret["stringData"] for ref in auth["spec"]["secretTargetRef"])
    hpa_only = {m["kind"] for m in rendered("production-hpa")}
    assert "ScaledObject" not in hpa_only and "HorizontalPodAutoscaler" in hpa_only


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_stop_warm_and_are_probed_by_the_healthcheck(overlay: str) -> None:
    worker = find(overlay, "Deployment", "ferstream-worker")
    pod = worker["spec"]["template"]["spec"]
    settings = Settings()
    assert pod["terminationGracePeriodSeconds"] > STOP_GRACE_SECONDS
    assert pod["terminationGracePeriodSeconds"] > settings.abandon_after_seconds
    (container,) = pod["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"] == ["python", "-m", "worker.healthcheck"]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    labels = worker["spec"]["selector"]["matchLabels"]
    budget = find(overlay, "PodDisruptionBudget", "ferstream-worker")
    assert budget["spec"]["selector"]["matchLabels"] == labels
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["FERSTREAM_REDIS_USERNAME"] == "worker"
    assert "FERSTREAM_REDIS_PASSWORD" not in env  # a file from the Secret, never a value


def test_the_local_redis_has_the_projects_acl_users() -> None:
    redis = find("local", "Deployment", "ferstream-redis")
    script = redis["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    for role in ROLES:
        line = (
            f"user {role} reset on >${{{role.upper()}_PASSWORD}} {user(Settings(), role).rules()}\n"
        )
        assert line in script, f"update overlays/local/redis.yaml's {role} from `ferstream acl`"


def test_the_manifests_hold_no_real_password() -> None:
    for overlay in OVERLAYS:
        for manifest in rendered(overlay):
            if manifest["kind"] == "Secret":
                assert all(v.startswith("change-me") for v in manifest["stringData"].values())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_metrics_port_is_where_prometheus_looks(overlay: str) -> None:
    """A pod's port named ``metrics`` is its scrape annotations' (annotation-based
    Prometheus); the live view's (``ferstream web --metrics-port``) included."""
    scraped: set[str] = set()
    for deployment in (m for m in rendered(overlay) if m["kind"] == "Deployment"):
        template = deployment["spec"]["template"]
        ports = [
            port["containerPort"]
            for container in template["spec"]["containers"]
            for port in container.get("ports", [])
            if port.get("name") == "metrics"
        ]
        if ports:
            annotations = template["metadata"]["annotations"]
            assert annotations["prometheus.io/scrape"] == "true"
            assert [int(annotations["prometheus.io/port"])] == ports, deployment["metadata"]
            scraped.add(deployment["metadata"]["name"])
    assert {"ferstream-worker", "ferstream-tracks", "ferstream-web"} <= scraped
    web = find(overlay, "Deployment", "ferstream-web")["spec"]["template"]["spec"]
    command = web["containers"][0]["command"]
    assert command[command.index("--metrics-port") + 1] == "9103"


def test_the_service_monitor_scrapes_the_live_view_through_its_metrics_port() -> None:
    monitor = find("production", "ServiceMonitor", "ferstream")
    [selector] = monitor["spec"]["selector"]["matchExpressions"]
    assert "ferstream-web" in selector["values"]
    assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == ["metrics"]
    service = find("production", "Service", "ferstream-web")
    assert {"name": "metrics", "port": 9103, "targetPort": "metrics"} in service["spec"]["ports"]
