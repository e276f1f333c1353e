"""deploy/kubernetes/: web and worker Deployments, a migrate Job, a Service, a Secret example and
a ConfigMap. Real commands and settings, probes on real routes and declared ports, non-root pods
with resources; then the probes asked, for real, of the processes the manifests start."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from gateway.config import Settings
from gateway.web.admin_auth import admin_key_problem
from tests.auxil.deployment import (
    DEFAULT_PORT,
    dockerfile,
    gateway_command,
    gateway_variables,
    health_routes,
    kubernetes_objects,
    listening_on_all_interfaces,
)
from tests.auxil.harness import free_port
from tests.auxil.process import GatewayProcess, gateway_env

OBJECTS = kubernetes_objects()
WEB = OBJECTS["Deployment", "gateway-web"]
WORKER = OBJECTS["Deployment", "gateway-worker"]
MIGRATE = OBJECTS["Job", "gateway-migrate"]
SECRET = OBJECTS["Secret", "gateway-secrets"]
CONFIG = OBJECTS["ConfigMap", "gateway-config"]
SERVICE = OBJECTS["Service", "channel-gateway"]
WORKLOADS = (WEB, WORKER, MIGRATE)


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def _port(container: dict[str, Any], name: str) -> int:
    found = [p["containerPort"] for p in container.get("ports", []) if p["name"] == name]
    assert len(found) == 1, f"{container['name']} declares no port {name}"
    return int(found[0])


def test_the_objects_the_issue_asks_for() -> None:
    assert set(OBJECTS) == {
        ("Deployment", "gateway-web"),
        ("Deployment", "gateway-worker"),
        ("Job", "gateway-migrate"),
        ("Service", "channel-gateway"),
        ("Secret", "gateway-secrets"),
        ("ConfigMap", "gateway-config"),
    }
    for obj in OBJECTS.values():
        assert obj["apiVersion"] in ("v1", "apps/v1", "batch/v1")
    assert MIGRATE["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_every_container_runs_a_real_gateway_command_of_one_image() -> None:
    paths = {_container(w)["name"]: gateway_command(_container(w)["args"])[0] for w in WORKLOADS}
    assert paths == {"web": ["serve"], "worker": ["worker"], "migrate": ["migrate"]}
    assert len({_container(w)["image"] for w in WORKLOADS}) == 1
    for workload in WORKLOADS:
        assert "command" not in _container(workload), "the image's ENTRYPOINT is `gateway`"


def test_the_environment_is_real_settings_from_the_secret_and_the_config_map() -> None:
    known = gateway_variables()
    assert set(SECRET["stringData"]) <= known, set(SECRET["stringData"]) - known
    assert set(CONFIG["data"]) <= known, set(CONFIG["data"]) - known
    for workload in WORKLOADS:
        container = _container(workload)
        assert container["envFrom"] == [
            {"secretRef": {"name": SECRET["metadata"]["name"]}},
            {"configMapRef": {"name": CONFIG["metadata"]["name"]}},
        ]
        assert {e["name"] for e in container.get("env", [])} <= known
        # No docker-link variables (CHANNEL_GATEWAY_PORT=tcp://...) in the gateway's namespace.
        assert workload["spec"]["template"]["spec"]["enableServiceLinks"] is False


def test_the_secret_example_holds_placeholders_the_gateway_refuses() -> None:
    for name, value in SECRET["stringData"].items():
        assert "<" in value and ">" in value, f"{name} must be an obvious placeholder"
    assert admin_key_problem(Settings(admin_key=SECRET["stringData"]["GATEWAY_ADMIN_KEY"]))
    try:
        Fernet(SECRET["stringData"]["GATEWAY_SECRET_KEY"])
    except ValueError:
        pass
    else:
        raise AssertionError("the example secret key is a usable key")


def test_probes_ask_health_routes_on_declared_ports() -> None:
    routes = health_routes()
    web, worker = _container(WEB), _container(WORKER)
    assert _port(web, "http") == DEFAULT_PORT
    _, options = gateway_command(worker["args"])
    assert options["metrics_host"] == "0.0.0.0", "the kubelet probes the pod's address"
    assert _port(worker, "health") == options["metrics_port"]
    for container, port_name in ((web, "http"), (worker, "health")):
        assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": port_name}
        assert container["readinessProbe"]["httpGet"] == {
            "path": "/health/ready",
            "port": port_name,
        }
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["path"] in routes


def test_the_service_sends_traffic_to_the_web_pods_only() -> None:
    spec = SERVICE["spec"]
    assert spec["selector"] == WEB["spec"]["template"]["metadata"]["labels"]
    assert spec["selector"] != WORKER["spec"]["template"]["metadata"]["labels"]
    assert WEB["spec"]["selector"]["matchLabels"] == WEB["spec"]["template"]["metadata"]["labels"]
    (port,) = spec["ports"]
    _port(_container(WEB), port["targetPort"])


def test_pods_run_as_the_image_user_without_privileges_and_with_resources() -> None:
    user = next(i for i in dockerfile() if i.keyword == "USER").value
    uid, gid = (int(x) for x in user.split(":"))
    for workload in WORKLOADS:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
            uid,
            gid,
        )
        container = _container(workload)
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["requests"]["memory"]
        assert container["resources"]["limits"]["memory"]
    # The worker drains for 15 s on SIGTERM, then closes: give it the systemd unit's 40 s.
    assert WORKER["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30


def _status(port: int, path: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return int(resp.status)


async def test_the_probes_answer_on_the_processes_the_manifests_start(
    db_url: str, tmp_path: Path
) -> None:
    web, worker = _container(WEB), _container(WORKER)
    web_port, health_port = free_port(), free_port()
    declared = str(_port(worker, "health"))
    worker_args = [str(health_port) if a == declared else a for a in worker["args"]]
    env = gateway_env(db_url, "http://127.0.0.1:9", "http://127.0.0.1:9")
    started = [
        (GatewayProcess(web["args"], {**env, "PORT": str(web_port)}, tmp_path / "web.log"), web),
        (GatewayProcess(worker_args, env, tmp_path / "worker.log"), worker),
    ]
    try:
        for (process, container), port in zip(started, (web_port, health_port), strict=True):
            await asyncio.to_thread(process.wait_ready, port)
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if probe in container:
                    path = container[probe]["httpGet"]["path"]
                    assert await asyncio.to_thread(_status, port, path) == 200, (probe, path)
        assert listening_on_all_interfaces(health_port)
        for process, _ in started:
            assert process.terminate() == 0
    finally:
        for process, _ in started:
            process.close()
