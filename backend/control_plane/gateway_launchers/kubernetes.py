"""Gateways as Kubernetes Pods, one Pod plus a Service per run (``GATEWAY_LAUNCHER=kubernetes``).

Through the official client (core/v1), in ``GATEWAY_NAMESPACE``:

- a **record** ConfigMap ``evotraders-gw-<run>`` names the run; it owns
  (``ownerReferences``) everything else of the run, so deleting it
  garbage-collects the Service and the Pods;
- a **Service** of the same name selects the run's Gateway Pod by label; its
  DNS name ``ws://<svc>.<ns>.svc:8765/`` is the Gateway's natural URL;
- one **Pod** per attempt (``<record>-<n>``, ``restartPolicy: Never``):
  ``GATEWAY_IMAGE`` running ``gateway --run-id ... --host 0.0.0.0 --port
  8765``, the run credential and the settings as its env, the data volume
  (PVC ``evotraders-data`` at ``/data``), non-root with a read-only root
  filesystem, a readiness probe on ``/health``.

Readiness and liveness come from the Gateway's ``/health`` (polled by this
process at the Pod's IP, as the kubelet's probe does); its output is read
from ``pods/log`` (``follow``) into the run's ``logs/gateway.log``. A Pod
that ends is replaced under the same progress rule as a child process. On
stop the Pod gets SIGTERM with the grace period, then the record is deleted
and with it the Service.

The Pod's service account token is mounted exactly when the run's skills run
in the kubernetes sandbox (the floor ``SKILL_SANDBOX_MODE`` or the run's
BOOTSTRAP, see :mod:`.skill_sandbox`): its skills then create sandbox Pods
as ``GATEWAY_SERVICE_ACCOUNT`` (deploy/kubernetes binds the sandbox's Role
to it). Otherwise the Gateway gets no credential for the API. A run whose
skills would need the docker sandbox is refused (a Pod has no engine):
its skills never run with less isolation than asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from backend.control_plane.gateway_launchers.base import (
    CONTAINER_PORT, RUN_ID_LABEL, COMPONENT_LABEL, GatewayLaunch, LauncherError, label_value, labels, object_name,
)
from backend.control_plane.gateway_launchers.remote import WorkloadLauncher
from backend.control_plane.gateway_launchers.skill_sandbox import effective_mode
from backend.control_plane.gateway_launchers.workload import LineSink, SupervisedWorkload, WorkloadError

if TYPE_CHECKING:
    from backend.config import Settings

log = logging.getLogger(__name__)

DATA_CLAIM = "evotraders-data"
DATA_MOUNT = "/data"
RUN_ANNOTATION = "evotraders.run-id"
POLL_S = 0.25
START_TIMEOUT_S = 300.0  # scheduling plus image start before an attempt counts as failed


def _short(err: BaseException) -> str:
    body = getattr(err, "body", None)
    reason = getattr(err, "reason", None)
    text = f"{getattr(err, 'status', '')} {reason or ''} {body or err}".strip()
    return text if len(text) < 300 else text[:300] + "..."


def _status_code(err: BaseException) -> int | None:
    return getattr(err, "status", None)


def core_api(context: str | None = None, api_client: Any = None) -> Any:
    """A ``CoreV1Api``: ``api_client`` if given, else in-cluster config, else the kube context."""
    from kubernetes import client, config

    if api_client is not None:
        return client.CoreV1Api(api_client)
    try:
        if context is None:
            with contextlib.suppress(config.ConfigException):
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)
                return client.CoreV1Api(client.ApiClient(configuration))
        return client.CoreV1Api(config.new_client_from_config(context=context))
    except Exception as err:  # noqa: BLE001 - every config failure means the same to the user
        raise LauncherError(f"the kubernetes Gateway launcher has no usable configuration ({type(err).__name__}: "
                            f"{str(err)[:200]}); run inside the cluster or set KUBECONFIG / "
                            f"GATEWAY_KUBE_CONTEXT") from None


class KubeWorkload:
    """One run's record, Service and Pods (see the module docstring)."""

    def __init__(self, api: Any, run_id: str, *, namespace: str, image: str, args: Sequence[str],
                 env: Mapping[str, str], service_account: str | None, data_claim: str = DATA_CLAIM,
                 mount_token: bool = False) -> None:
        self.api, self.run_id, self.namespace = api, run_id, namespace
        self.name = object_name(run_id)
        self.image, self.args, self.env = image, list(args), dict(env)
        self.service_account, self.data_claim = service_account, data_claim
        self.mount_token = mount_token  # only for skills in the kubernetes sandbox (sandbox Pods)
        self.attempt = 0
        self.pod_name: str | None = None
        self.pod_ip: str | None = None
        self.health_url: str | None = None
        self.ident: str | None = None
        self._terminating = False

    @property
    def port(self) -> int:
        return CONTAINER_PORT

    @property
    def service_host(self) -> str:
        return f"{self.name}.{self.namespace}.svc"

    # -- objects ---------------------------------------------------------------------
    def _meta(self, name: str, owner: Any = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "namespace": self.namespace, "labels": labels(self.run_id),
                                "annotations": {RUN_ANNOTATION: self.run_id}}
        if owner is not None:
            meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner.metadata.name,
                                        "uid": owner.metadata.uid, "blockOwnerDeletion": True}]
        return meta

    def _record(self) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.api.read_namespaced_config_map(self.name, self.namespace)
        except ApiException as err:
            if _status_code(err) != 404:
                raise
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": self._meta(self.name),
                "data": {"run_id": self.run_id}}
        return self.api.create_namespaced_config_map(self.namespace, body)

    def _service(self, owner: Any) -> None:
        from kubernetes.client.exceptions import ApiException

        body = {"apiVersion": "v1", "kind": "Service", "metadata": self._meta(self.name, owner),
                "spec": {"selector": {RUN_ID_LABEL: label_value(self.run_id), COMPONENT_LABEL: "gateway"},
                         "ports": [{"name": "ws", "port": CONTAINER_PORT, "targetPort": CONTAINER_PORT}]}}
        try:
            self.api.create_namespaced_service(self.namespace, body)
        except ApiException as err:
            if _status_code(err) != 409:  # already there (a restart)
                raise

    def _pod_body(self, name: str, owner: Any) -> dict[str, Any]:
        command = ["gateway", *self.args, "--host", "0.0.0.0", "--port", str(CONTAINER_PORT)]
        env = [{"name": k, "value": v} for k, v in sorted({**self.env, "PYTHONUNBUFFERED": "1"}.items())]
        container = {
            "name": "gateway", "image": self.image, "imagePullPolicy": "IfNotPresent", "args": command, "env": env,
            "ports": [{"name": "ws", "containerPort": CONTAINER_PORT}],
            "readinessProbe": {"httpGet": {"path": "/health", "port": CONTAINER_PORT}, "periodSeconds": 5},
            "livenessProbe": {"httpGet": {"path": "/health", "port": CONTAINER_PORT}, "periodSeconds": 10,
                              "timeoutSeconds": 5},
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "data", "mountPath": DATA_MOUNT}, {"name": "tmp", "mountPath": "/tmp"}],
        }
        spec: dict[str, Any] = {
            "restartPolicy": "Never", "automountServiceAccountToken": self.mount_token, "containers": [container],
            "terminationGracePeriodSeconds": 30,
            # The image's user; fsGroup lets it write the data volume.
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": self.data_claim}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
        }
        if self.service_account:
            spec["serviceAccountName"] = self.service_account
        return {"apiVersion": "v1", "kind": "Pod", "metadata": self._meta(name, owner), "spec": spec}

    def _create(self) -> None:
        from kubernetes.client.exceptions import ApiException

        self.attempt += 1
        name = f"{self.name}-{self.attempt}"
        try:
            owner = self._record()
            self._service(owner)
            self.api.create_namespaced_pod(self.namespace, self._pod_body(name, owner))
            pod = self._until_running(name)
        except ApiException as err:
            raise WorkloadError(f"the Kubernetes API refused the Gateway of run {self.run_id!r}: "
                                f"{_short(err)}") from None
        self.pod_name, self.pod_ip = name, pod.status.pod_ip
        self._terminating = False
        self.ident = f"pod {self.namespace}/{name}"
        self.health_url = f"http://{self.pod_ip}:{CONTAINER_PORT}/health"

    def _until_running(self, name: str) -> Any:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            pod = self.api.read_namespaced_pod(name, self.namespace)
            phase = pod.status.phase if pod.status else None
            if phase == "Running" and pod.status.pod_ip:
                return pod
            if phase in ("Succeeded", "Failed"):
                self.pod_name = name
                raise WorkloadError(f"pod {name} ended before it ran ({phase}: {pod.status.reason or ''} "
                                    f"{pod.status.message or ''})".strip())
            if time.monotonic() > deadline:
                raise WorkloadError(f"pod {name} was not running within {START_TIMEOUT_S:g}s (phase {phase})")
            time.sleep(POLL_S)

    async def create(self) -> None:
        await asyncio.to_thread(self._create)

    # -- one attempt's life --------------------------------------------------------------
    def _follow_log(self, name: str, sink: LineSink, loop: asyncio.AbstractEventLoop, ended: threading.Event) -> None:
        """Stream ``pods/log`` until the Pod ends (reconnecting from where it was if the stream breaks)."""
        from kubernetes.client.exceptions import ApiException

        seen = 0
        for _ in range(100):  # bounded reconnects
            try:
                response = self.api.read_namespaced_pod_log(name, self.namespace, container="gateway", follow=True,
                                                            _preload_content=False)
            except ApiException as err:
                if _status_code(err) == 404 or ended.is_set():
                    return
                time.sleep(POLL_S)  # waiting to start
                continue
            buffer, count = b"", 0
            try:
                for chunk in response.stream(4096):
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        count += 1
                        if count > seen:  # a reconnect starts from the beginning of the Pod's log
                            seen = count
                            loop.call_soon_threadsafe(sink, line.decode("utf-8", "replace"))
            except Exception:  # noqa: BLE001 - a broken stream: reconnect unless the Pod is over
                pass
            finally:
                response.release_conn()
            if buffer:
                loop.call_soon_threadsafe(sink, buffer.decode("utf-8", "replace"))
            if ended.is_set():
                return
            time.sleep(POLL_S)

    def _wait(self, name: str) -> int:
        from kubernetes.client.exceptions import ApiException

        while True:
            try:
                pod = self.api.read_namespaced_pod(name, self.namespace)
            except ApiException as err:
                if _status_code(err) == 404:  # deleted: by us (SIGTERM) or by someone else (lost)
                    return -15 if self._terminating else -9
                raise WorkloadError(f"lost track of pod {name}: {_short(err)}") from None
            status = pod.status
            if status is not None and status.phase in ("Succeeded", "Failed"):
                for cs in status.container_statuses or []:
                    term = cs.state.terminated if cs.state else None
                    if term is not None and term.exit_code is not None:
                        code = int(term.exit_code)
                        return -(code - 128) if 128 < code < 128 + 65 else code
                return 0 if status.phase == "Succeeded" else 1
            time.sleep(POLL_S)

    async def wait_exit(self, sink: LineSink) -> int:
        name = self.pod_name
        if name is None:
            raise WorkloadError("no pod")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        ended = threading.Event()

        def work() -> None:
            follower = threading.Thread(target=self._follow_log, args=(name, sink, loop, ended), daemon=True)
            follower.start()
            try:
                result: Any = self._wait(name)
                ok = True
            except BaseException as err:  # noqa: BLE001 - handed to the loop
                result, ok = err, False
            ended.set()
            follower.join(10)  # the rest of the log first

            def settle() -> None:
                if not done.done():
                    done.set_result(result) if ok else done.set_exception(result)

            loop.call_soon_threadsafe(settle)

        threading.Thread(target=work, name=f"kube-wait {name}", daemon=True).start()
        return await done

    def _delete_pod(self, grace: float) -> None:
        from kubernetes.client.exceptions import ApiException

        if self.pod_name is None:
            return
        try:
            self.api.delete_namespaced_pod(self.pod_name, self.namespace, grace_period_seconds=int(round(grace)))
        except ApiException as err:
            if _status_code(err) != 404:
                log.warning("could not delete pod %s: %s", self.pod_name, _short(err))

    async def terminate(self, grace: float) -> None:
        self._terminating = True
        await asyncio.to_thread(self._delete_pod, grace)

    async def remove(self) -> None:
        await asyncio.to_thread(self._delete_pod, 0)
        self.pod_name = None

    def _delete_record(self) -> None:
        from kubernetes.client.exceptions import ApiException

        try:  # the Service and any Pod go with it (ownerReferences)
            self.api.delete_namespaced_config_map(self.name, self.namespace, propagation_policy="Background")
        except ApiException as err:
            if _status_code(err) != 404:
                log.warning("could not delete the record of run %s: %s", self.run_id, _short(err))

    async def close(self) -> None:
        await self.remove()
        await asyncio.to_thread(self._delete_record)


class KubernetesGatewayLauncher(WorkloadLauncher):
    """Gateway Pods and Services in a cluster (see the module docstring).

    Args:
        settings: namespace, image, context, service account, public URL template.
        api_client: a ready ``kubernetes.client.ApiClient`` (tests, custom auth).
        data_claim: the ``ReadWriteMany`` PVC holding runs/ and workspaces/.
    """

    kind = "kubernetes"

    def __init__(self, settings: Settings, api_client: Any = None, *, data_claim: str = DATA_CLAIM) -> None:
        super().__init__(settings.gateway_public_url)
        self.settings = settings
        self.api = core_api(settings.gateway_kube_context, api_client)
        self.data_claim = data_claim

    def _workload(self, launch: GatewayLaunch, previous: Any) -> KubeWorkload:
        s = self.settings
        mode = effective_mode(s, launch)
        if mode == "docker":
            raise WorkloadError(f"run {launch.run_id!r} runs its skills in the docker sandbox, and a Gateway Pod "
                                f"has no docker engine; use SKILL_SANDBOX_MODE=kubernetes with "
                                f"GATEWAY_LAUNCHER=kubernetes")
        workload = KubeWorkload(self.api, launch.run_id, namespace=s.gateway_namespace, image=s.gateway_image,
                                args=launch.args, env=launch.env, service_account=s.gateway_service_account,
                                data_claim=self.data_claim, mount_token=mode == "kubernetes")
        if isinstance(previous, KubeWorkload):
            workload.attempt = previous.attempt  # Pod names keep counting
        return workload

    def natural_address(self, handle: SupervisedWorkload) -> tuple[str, int] | None:
        return handle.workload.service_host, CONTAINER_PORT

    def control_address(self, handle: SupervisedWorkload) -> tuple[str, int] | None:
        ip = handle.workload.pod_ip
        return None if not ip or handle.workload.pod_name is None else (ip, CONTAINER_PORT)
