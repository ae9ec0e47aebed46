"""The kubernetes launcher through the official client against the local stand-in of the API.

No Kubernetes API server can run here: ``tests/support/fake_kube_api.py``
answers the core/v1 calls over real HTTP and "runs" a Gateway Pod as a real
``python -m gateway`` process (through the process supervisor) bound to the
Pod's own loopback IP. Everything from the controller to the Gateway's
WebSocket is real: the Pod and Service bodies, ownerReferences and their
garbage collection, readiness from ``/health``, ``pods/log``, the restart
rule, deletion on stop.
"""

from __future__ import annotations

import json
import os
import signal

import pytest
from kubernetes import client
from websockets.asyncio.client import connect

from app.models.stack_model import StackModel
from backend.config import load_settings
from backend.control_plane.controller import RuntimeController
from backend.control_plane.gateway_launchers.base import object_name
from backend.control_plane.gateway_launchers.kubernetes import KubernetesGatewayLauncher
from backend.control_plane.gateway_restart import GatewayRestartPolicy
from backend.sandbox.isolation import Isolation
from backend.security.tokens import Role
from backend.storage.run_store import RunStore
from tests.launchers.conftest import make_run
from tests.support.fake_kube_api import FakeKube
from tests.support.waiting import until

NS = "evotraders"
SELECTOR = "app.kubernetes.io/part-of=evotraders,evotraders.component=gateway"


@pytest.fixture
def fake():
    server = FakeKube(Isolation(use_bwrap=False)).start()
    yield server
    server.stop()


@pytest.fixture
async def kube(fake, tmp_path, registry):
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws", gateway_launcher="kubernetes",
                             gateway_namespace=NS, gateway_service_account="evotraders-gateway")
    api_client = client.ApiClient(client.Configuration(host=fake.host))
    store = RunStore.from_settings(settings)
    controller = RuntimeController(
        settings, store, registry=registry, launcher=KubernetesGatewayLauncher(settings, api_client=api_client),
        restart_policy=GatewayRestartPolicy(max_restarts=1, backoff_base=0.05, backoff_cap=0.2))
    yield controller, client.CoreV1Api(api_client), store
    await controller.shutdown()
    api_client.close()


def _names(api, kind: str) -> list[str]:
    lister = {"pods": api.list_namespaced_pod, "services": api.list_namespaced_service,
              "configmaps": api.list_namespaced_config_map}[kind]
    return sorted(item.metadata.name for item in lister(NS, label_selector=SELECTOR).items)


def _kill_gateway(fake: FakeKube, pod: str) -> None:
    """The container crashes: SIGKILL its process (what the OOM killer or a segfault would do)."""
    with fake.lock:
        pid = fake.objects[("pods", NS, pod)]["status"].get("hostPid")
    os.kill(pid, signal.SIGKILL)


async def test_a_gateway_pod_serves_its_run_restarts_under_the_progress_rule_and_leaves_nothing(kube, fake, registry):
    controller, api, store = kube
    run_id = make_run(store)
    name = object_name(run_id)

    info = await controller.start_run(run_id, paused=True)
    assert info["status"] == "healthy", info
    # The URL clients get is the Service's DNS name; nothing was typed.
    assert info["url"] == f"ws://{name}.{NS}.svc:8765/"
    assert (_names(api, "configmaps"), _names(api, "services"), _names(api, "pods")) == ([name], [name], [f"{name}-1"])

    record = api.read_namespaced_config_map(name, NS)
    pod = api.read_namespaced_pod(f"{name}-1", NS)
    service = api.read_namespaced_service(name, NS)
    for obj in (pod, service):  # owned by the run's record, so deleting it collects them
        assert [(r.kind, r.name, r.uid) for r in obj.metadata.owner_references] == [("ConfigMap", name, record.metadata.uid)]
        assert obj.metadata.labels["evotraders.run-id"] == run_id
    assert service.spec.selector == {"evotraders.run-id": run_id, "evotraders.component": "gateway"}
    container = pod.spec.containers[0]
    assert container.args[:3] == ["gateway", "--run-id", run_id] and container.readiness_probe.http_get.path == "/health"
    assert pod.spec.service_account_name == "evotraders-gateway" and pod.spec.automount_service_account_token is False
    env = {e.name: e.value for e in container.env}
    # The run credential, as a subprocess gets it; never a role token or the run secret.
    assert env["EVOTRADERS_RUN_TOKEN"] and not env.get("EVOTRADERS_RUN_SECRET")
    assert not set(env.values()) & set(registry.tokens.values())
    assert env["RUNS_DIR"] == str(controller.settings.runs_dir) and env["GATEWAY_LAUNCHER"] == "kubernetes"

    # A real WebSocket client at the Pod's address gets the greeting (a viewer: read only).
    gateway = controller.launcher.get(run_id)
    async with connect(controller.launcher.control_url(gateway),
                       additional_headers={"Authorization": f"Bearer {registry.tokens[Role.viewer]}"},
                       max_size=None) as ws:
        assert [json.loads(await ws.recv())["type"] for _ in range(2)] == ["hello", "initial_state"]
    # pods/log reaches the run's logs/gateway.log.
    log_file = store.paths(run_id).logs_dir / "gateway.log"
    await until(lambda: any("gateway" in line.lower() for line in controller.logs(run_id)), what="the Pod's log")
    written = log_file.read_text()
    assert all(line in written for line in controller.logs(run_id))

    # The container crashes: a new Pod, same Service and URL, under the progress rule.
    _kill_gateway(fake, f"{name}-1")
    await until(lambda: controller.gateway_info(run_id)["restarts"] == 1
                and controller.gateway_info(run_id)["status"] == "healthy", what="the Gateway restarted")
    assert _names(api, "pods") == [f"{name}-2"]
    assert controller.gateway_info(run_id)["url"] == info["url"]
    assert controller.gateway_info(run_id)["last_exit"]["signal"] == "SIGKILL"

    # Paused, the run makes no progress: the next crash exhausts max_restarts=1 and it stays down.
    _kill_gateway(fake, f"{name}-2")
    await until(lambda: controller.gateway_info(run_id)["gave_up"], what="the controller gave up")
    assert controller.gateway_info(run_id)["status"] == "crashed"
    assert "without progress" in controller.gateway_info(run_id)["message"]
    assert controller.run_summary(run_id)["status"] == "crashed"
    # The desk's Stack panel shows the Pod Gateway as it shows a child process.
    stack = StackModel()
    stack.set_gateways(controller.list_runs())
    row = stack.row(f"gateway-{run_id}")
    assert (row.status_text, row.restarts, row.last_exit, row.pid) == ("crashed, gave up", 1, "killed by SIGKILL", None)
    assert row.detail.startswith("gave up after 1 restarts without progress")

    # Deleting the run's record garbage-collects its Service and Pod.
    api.delete_namespaced_config_map(name, NS)
    assert (_names(api, "services"), _names(api, "pods")) == ([], [])

    # Started again (the record is recreated), then stopped: nothing labelled is left.
    assert (await controller.start_run(run_id, paused=True))["status"] == "healthy"
    assert _names(api, "pods") == [f"{name}-3"]
    stopped = await controller.stop_run(run_id)
    assert stopped["status"] == "stopped" and stopped["last_exit"]["requested"]
    assert (_names(api, "configmaps"), _names(api, "services"), _names(api, "pods")) == ([], [], [])


async def test_a_missing_namespace_is_a_clear_error_not_a_hang(kube, fake):
    controller, api, store = kube
    controller.launcher.settings = controller.settings.model_copy(update={"gateway_namespace": "nowhere"})
    run_id = make_run(store, "launch-2")
    from backend.errors import UnavailableError

    with pytest.raises(UnavailableError, match="nowhere"):
        await controller.start_run(run_id)
    assert controller.gateway_info(run_id)["status"] == "crashed"


async def test_every_object_the_launcher_creates_validates_against_the_kubernetes_schemas(kube, fake):
    import kubernetes_validate

    controller, api, store = kube
    await controller.start_run(make_run(store, "launch-3"), paused=True)
    await controller.stop_run("launch-3")
    kinds = sorted(body["kind"] for body in fake.created)
    assert kinds == ["ConfigMap", "Pod", "Service"]
    for body in fake.created:  # strict: a misspelt field is an error, not silently dropped by the API server
        kubernetes_validate.validate(body, kubernetes_validate.latest_version(), strict=True)


def test_container_gateways_without_tokens_are_refused_before_anything_is_created(fake, tmp_path):
    """A Pod's Gateway listens beyond loopback: with no tokens the controller will not be built."""
    from backend.control_plane.gateway_launchers import LauncherError
    from backend.security.tokens import TokenRegistry

    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws", gateway_launcher="kubernetes")
    launcher = KubernetesGatewayLauncher(settings, api_client=client.ApiClient(client.Configuration(host=fake.host)))
    with pytest.raises(LauncherError, match="needs tokens.*EVOTRADERS_ADMIN_TOKEN"):
        RuntimeController(settings, registry=TokenRegistry(), launcher=launcher)
    assert fake.created == []


# -- the service account token follows the run's skill sandbox ------------------------------------------------------
SANDBOX_MODES = ["none", "process", "docker", "kubernetes"]
STRENGTH = {"none": 0, "process": 1, "docker": 2, "kubernetes": 2}


def _expected_mode(floor: str, requested: str | None) -> str:
    """The floor unless the run's BOOTSTRAP asks for strictly more isolation (docker and kubernetes are equal)."""
    return requested if requested is not None and STRENGTH[requested] > STRENGTH[floor] else floor


async def test_a_pod_whose_skills_use_the_kubernetes_sandbox_gets_its_token_and_others_do_not(kube, fake):
    """Through the API: the Pod as created says automountServiceAccountToken true only for that sandbox."""
    controller, api, store = kube
    for floor, token in (("kubernetes", True), ("process", False)):
        controller.settings = controller.launcher.settings = controller.settings.model_copy(
            update={"skill_sandbox_mode": floor})
        run_id = make_run(store, f"launch-sbx-{floor}")
        assert (await controller.start_run(run_id, paused=True))["status"] == "healthy"
        pod = api.read_namespaced_pod(f"{object_name(run_id)}-1", NS)
        env = {e.name: e.value for e in pod.spec.containers[0].env}
        assert env["SKILL_SANDBOX_MODE"] == floor
        assert pod.spec.automount_service_account_token is token, floor
        assert pod.spec.service_account_name == "evotraders-gateway"
        await controller.stop_run(run_id)


async def test_a_run_whose_skills_need_the_docker_sandbox_is_refused_before_any_pod(kube, fake):
    from backend.errors import UnavailableError

    controller, api, store = kube
    controller.settings = controller.launcher.settings = controller.settings.model_copy(
        update={"skill_sandbox_mode": "docker"})
    run_id = make_run(store, "launch-sbx-docker")
    with pytest.raises(UnavailableError, match="docker sandbox.*no docker engine.*SKILL_SANDBOX_MODE=kubernetes"):
        await controller.start_run(run_id)
    assert _names(api, "pods") == [] and not [b for b in fake.created if b["kind"] == "Pod"]


@pytest.fixture(scope="module")
def sandbox_store(tmp_path_factory):
    base = tmp_path_factory.mktemp("sandbox-modes")
    settings = load_settings(runs_dir=base / "runs", workspaces_dir=base / "ws", gateway_launcher="kubernetes",
                             gateway_namespace=NS, gateway_service_account="evotraders-gateway")
    return settings, RunStore.from_settings(settings)


def test_the_token_is_mounted_exactly_when_the_effective_sandbox_is_kubernetes(sandbox_store):
    """For every floor and every BOOTSTRAP request: token iff kubernetes; docker refused; nothing else changes."""
    import itertools

    from backend.control_plane.gateway_launchers.base import GatewayLaunch
    from backend.control_plane.gateway_launchers.workload import WorkloadError

    settings, store = sandbox_store
    launcher = KubernetesGatewayLauncher(settings, api_client=client.ApiClient(
        client.Configuration(host="http://127.0.0.1:9")))  # _workload makes no API call
    for i, (floor, requested) in enumerate(itertools.product(SANDBOX_MODES, [None, *SANDBOX_MODES])):
        run_id = f"sbx-{i}"
        store.create_run("default", run_id=run_id, overrides={"sandbox_mode": requested, "tickers": ["AAPL"]})
        launch = GatewayLaunch(run_id=run_id, args=["--run-id", run_id], env={"SKILL_SANDBOX_MODE": floor},
                               log_path=store.paths(run_id).logs_dir / "gateway.log")
        expected = _expected_mode(floor, requested)
        if expected == "docker":
            with pytest.raises(WorkloadError, match=f"run '{run_id}' runs its skills in the docker sandbox"):
                launcher._workload(launch, None)
            continue
        spec = launcher._workload(launch, None)._pod_body("p", None)["spec"]
        assert spec["automountServiceAccountToken"] is (expected == "kubernetes"), (floor, requested)
        assert spec["serviceAccountName"] == "evotraders-gateway"


def test_the_gateway_pod_template_mounts_the_token_as_the_launcher_does_with_the_deployment_settings(sandbox_store):
    """deploy/kubernetes/gateway-pod-template.yaml matches the Pod the launcher makes with settings.yaml's sandbox."""
    from pathlib import Path

    import yaml

    from backend.control_plane.gateway_launchers.base import GatewayLaunch

    root = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
    deployed = yaml.safe_load((root / "settings.yaml").read_text())["data"]
    template = yaml.safe_load(yaml.safe_load((root / "gateway-pod-template.yaml").read_text())["data"]["pod.yaml"])
    settings, store = sandbox_store
    launcher = KubernetesGatewayLauncher(settings, api_client=client.ApiClient(
        client.Configuration(host="http://127.0.0.1:9")))
    run_id = store.create_run("default", run_id="sbx-template", overrides={"tickers": ["AAPL"]})
    launch = GatewayLaunch(run_id=run_id, args=["--run-id", run_id],
                           env={"SKILL_SANDBOX_MODE": deployed["SKILL_SANDBOX_MODE"]},
                           log_path=store.paths(run_id).logs_dir / "gateway.log")
    made = launcher._workload(launch, None)._pod_body("p", None)["spec"]
    assert deployed["SKILL_SANDBOX_MODE"] == "kubernetes"
    assert template["spec"]["automountServiceAccountToken"] is made["automountServiceAccountToken"] is True
    assert template["spec"]["serviceAccountName"] == deployed["GATEWAY_SERVICE_ACCOUNT"] == made["serviceAccountName"]
