"""``kubernetes`` mode: one locked-down Pod per skill call.

The skill's files, the runner and the request travel in a ConfigMap mounted
read-only at ``/skill`` and ``/sandbox``; the Pod runs as uid 65534 with a
read-only root filesystem, no privilege escalation, all capabilities dropped,
no service-account token, ``restartPolicy: Never``, ``activeDeadlineSeconds``
from the timeout and requests = limits from the memory/CPU settings. Network
isolation comes from the NetworkPolicy in ``deploy/kubernetes/`` (it selects
the ``evotraders.io/sandbox: skill`` label this backend puts on every Pod).

The backend polls the Pod's phase, reads its log (the runner captures the
skill's stdout/stderr into its result, since a Pod log merges both streams)
and deletes the Pod and the ConfigMap afterwards, also when the call fails or
is cancelled. Calls run in worker threads (the official client is blocking).
"""

from __future__ import annotations

import base64
import contextlib
import math
import secrets
import threading
import time
from typing import Any

from backend.skills.spec import SkillSpec
from backend.sandbox.outcome import RUNNER_ARGS, RUNNER_PATH, RawOutcome, build_request, split_marker
from backend.sandbox.staging import skill_files
from backend.sandbox.limits import SandboxLimits
from backend.sandbox.worker_threads import BackendUnavailable, WorkerThreadBackend, short_error as _short

SANDBOX_LABEL = "evotraders.io/sandbox"
MAX_CONFIGMAP_BYTES = 900 * 1024  # the API server refuses objects over 1 MiB
_IMAGE_PROBLEMS = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName",
                   "CreateContainerConfigError", "CreateContainerError")


def _model(kind: str, body: dict[str, Any]) -> Any:
    """Newer clients validate typed bodies; older ones accept plain dicts."""
    from kubernetes import client

    cls = getattr(client, kind)
    return cls.from_dict(body) if hasattr(cls, "from_dict") else body


class KubernetesSandboxBackend(WorkerThreadBackend):
    """Runs each skill call in a fresh Pod.

    Args:
        image: the Python image (``SKILL_SANDBOX_IMAGE``), with ``python3`` on PATH.
        namespace: where Pods and ConfigMaps are created (``SKILL_SANDBOX_NAMESPACE``).
        context: kubeconfig context (``SKILL_SANDBOX_KUBE_CONTEXT``); default: the
            in-cluster service account, else the current kubeconfig context.
        service_account: the Pods' service account (its token is never mounted).
        pull_policy: ``never`` -> ``imagePullPolicy: Never``; ``missing`` -> ``IfNotPresent``.
        api_client: a ready ``kubernetes.client.ApiClient`` (tests, custom auth).
        startup_grace: seconds allowed for scheduling and image start on top of the timeout.
    """

    name = "kubernetes"

    def __init__(self, image: str = "evotraders/skill-python:3.11", *, namespace: str = "evotraders",
                 context: str | None = None, service_account: str | None = None, pull_policy: str = "never",
                 api_client: Any = None, poll_interval: float = 0.2, startup_grace: float = 60.0,
                 concurrency: int = 8) -> None:
        self.image, self.namespace, self.context = image, namespace, context
        self.service_account, self.pull_policy = service_account, pull_policy
        self.poll_interval, self.startup_grace = poll_interval, startup_grace
        self._api_client = api_client
        self._api: Any = None
        self._lock = threading.Lock()
        super().__init__(concurrency, "kube-sandbox")

    def api(self) -> Any:
        """A ``CoreV1Api``, configured on first use; raises :class:`BackendUnavailable`."""
        from kubernetes import client, config

        with self._lock:
            if self._api is None:
                api_client = self._api_client
                if api_client is None:
                    try:
                        api_client = self._load_config(client, config)
                    except Exception as exc:  # noqa: BLE001 - every config failure means the same to the user
                        raise BackendUnavailable(
                            f"no usable Kubernetes configuration ({_short(exc)}); run inside the cluster, "
                            f"or set KUBECONFIG / SKILL_SANDBOX_KUBE_CONTEXT to a context that can create "
                            f"pods in namespace {self.namespace}") from None
                self._api = client.CoreV1Api(api_client)
            return self._api

    def _load_config(self, client: Any, config: Any) -> Any:
        if self.context is None:
            with contextlib.suppress(config.ConfigException):
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)
                return client.ApiClient(configuration)
        return config.new_client_from_config(context=self.context)

    @property
    def host(self) -> str:
        api = self._api
        return api.api_client.configuration.host if api is not None else "(not configured)"

    def _call(self, spec: SkillSpec, payload: dict[str, Any], limits: SandboxLimits) -> _PodCall:
        return _PodCall(self, spec, payload, limits)


class _PodCall:
    """One Pod's life, run in a worker thread from ConfigMap creation to deletion."""

    def __init__(self, backend: KubernetesSandboxBackend, spec: SkillSpec, payload: dict[str, Any],
                 limits: SandboxLimits) -> None:
        self.backend, self.spec, self.payload, self.limits = backend, spec, payload, limits
        self.name = f"evotraders-skill-{spec.name[:30].replace('_', '-')}-{secrets.token_hex(5)}"
        self.cancelled = threading.Event()
        self.request = build_request(spec, payload, limits, skill_dir="/skill", capture_output=True,
                                     apply_limits=False)

    def kill(self) -> None:
        """Nothing to do at once: the poll loop sees ``cancelled``, its finally deletes Pod and ConfigMap."""

    def run(self) -> RawOutcome:
        from kubernetes.client.exceptions import ApiException

        api = self.backend.api()
        ns = self.backend.namespace
        made: list[str] = []
        try:
            try:
                api.create_namespaced_config_map(ns, _model("V1ConfigMap", self._config_map()))
                made.append("configmap")
                api.create_namespaced_pod(ns, _model("V1Pod", self._pod()))
                made.append("pod")
                return self._watch(api)
            except ApiException as exc:
                raise BackendUnavailable(self._explain(exc, made)) from None
            except Exception as exc:  # urllib3 / socket errors: the API server is unreachable
                if isinstance(exc, BackendUnavailable):
                    raise
                raise BackendUnavailable(f"cannot reach the Kubernetes API at {self.backend.host}: "
                                         f"{_short(exc)}") from None
        finally:
            self._delete(api, made)

    def _explain(self, exc: Any, made: list[str]) -> str:
        ns = self.backend.namespace
        if exc.status == 404 and "pod" in made:
            return f"sandbox pod {self.name} in namespace {ns} disappeared while running (deleted by someone else?)"
        if exc.status == 404:
            return (f"namespace {ns} does not exist on {self.backend.host}; create it with "
                    f"`kubectl apply -f deploy/kubernetes/namespace.yaml` or set SKILL_SANDBOX_NAMESPACE")
        if exc.status in (401, 403):
            return (f"not allowed to run sandbox pods in namespace {ns} ({exc.status} {exc.reason}); grant "
                    f"the role in deploy/kubernetes/sandbox-rbac.yaml")
        return f"the Kubernetes API at {self.backend.host} refused the call: {exc.status} {exc.reason}"

    # -- objects ----------------------------------------------------------------
    def _config_map(self) -> dict[str, Any]:
        import json

        data = {"runner.py": RUNNER_PATH.read_text(encoding="utf-8"), "request.json": json.dumps(self.request)}
        binary: dict[str, str] = {}
        self.items: list[dict[str, str]] = []
        for index, (path, content) in enumerate(skill_files(self.spec.path).items()):
            key = f"skill-{index}"
            try:
                data[key] = content.decode("utf-8")
            except UnicodeDecodeError:
                binary[key] = base64.b64encode(content).decode("ascii")
            self.items.append({"key": key, "path": path})
        size = sum(len(v) for v in data.values()) + sum(len(v) for v in binary.values())
        if size > MAX_CONFIGMAP_BYTES:
            raise BackendUnavailable(f"skill {self.spec.name} and its request take {size // 1024} KiB, more than "
                                     f"the {MAX_CONFIGMAP_BYTES // 1024} KiB a ConfigMap can carry")
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "data": data,
                                "metadata": {"name": self.name, "labels": self._labels()}}
        if binary:
            body["binaryData"] = binary
        return body

    def _labels(self) -> dict[str, str]:
        # Label values: at most 63 characters, starting and ending alphanumeric.
        skill = self.spec.name.replace("_", "-")[:63].strip("-")
        return {"app.kubernetes.io/part-of": "evotraders", SANDBOX_LABEL: "skill", "evotraders.io/skill": skill}

    def _pod(self) -> dict[str, Any]:
        limits = self.limits
        resources = {"cpu": f"{max(1, int(limits.cpu_limit * 1000))}m", "memory": str(limits.memory_bytes)}
        pod_spec: dict[str, Any] = {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": max(1, int(math.ceil(limits.timeout_s))),
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "skill", "image": self.backend.image,
                "imagePullPolicy": "Never" if self.backend.pull_policy == "never" else "IfNotPresent",
                "command": ["python3", *RUNNER_ARGS, "/sandbox/runner.py", "/sandbox/request.json"],
                "workingDir": "/tmp", "env": [{"name": "HOME", "value": "/tmp"}],
                "resources": {"requests": resources, "limits": resources},
                "securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": True,
                                    "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": "sandbox", "mountPath": "/sandbox", "readOnly": True},
                                 {"name": "skill", "mountPath": "/skill", "readOnly": True},
                                 {"name": "tmp", "mountPath": "/tmp"}],
            }],
            "volumes": [
                {"name": "sandbox", "configMap": {"name": self.name, "items": [
                    {"key": "runner.py", "path": "runner.py"}, {"key": "request.json", "path": "request.json"}]}},
                {"name": "skill", "configMap": {"name": self.name, "items": self.items}},
                {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
            ],
        }
        if self.backend.service_account:
            pod_spec["serviceAccountName"] = self.backend.service_account
        return {"apiVersion": "v1", "kind": "Pod", "spec": pod_spec,
                "metadata": {"name": self.name, "labels": self._labels()}}

    # -- watching -----------------------------------------------------------------
    def _watch(self, api: Any) -> RawOutcome:
        ns = self.backend.namespace
        deadline = time.monotonic() + self.limits.timeout_s + self.backend.startup_grace
        while True:
            pod = api.read_namespaced_pod(self.name, ns)
            status = pod.status
            phase = status.phase if status else None
            if phase in ("Succeeded", "Failed"):
                break
            for container in (status.container_statuses or []) if status else []:
                waiting = container.state.waiting if container.state else None
                if waiting is not None and waiting.reason in _IMAGE_PROBLEMS:
                    raise BackendUnavailable(
                        f"pod cannot start image {self.backend.image}: {waiting.reason} {waiting.message or ''}"
                        f"; load the image into the cluster's nodes or set SKILL_SANDBOX_PULL_POLICY=missing")
            if self.cancelled.is_set():
                return RawOutcome(exit_status=None)
            if time.monotonic() > deadline:
                return RawOutcome(exit_status=None, timed_out=True)
            time.sleep(self.backend.poll_interval)
        terminated = None
        for container in status.container_statuses or []:
            if container.name == "skill" and container.state is not None:
                terminated = container.state.terminated
        log = self._read_log(api)
        stdout, envelope = split_marker(log, self.request["marker"])
        return RawOutcome(
            exit_status=terminated.exit_code if terminated is not None else None,
            stdout=stdout, envelope=envelope, timed_out=status.reason == "DeadlineExceeded",
            oom_killed=terminated is not None and terminated.reason == "OOMKilled",
        )

    def _read_log(self, api: Any) -> str:
        from kubernetes.client.exceptions import ApiException

        def read(**kwargs: Any) -> str:
            # Raw bytes: the client would try to parse a log that happens to be JSON.
            response = api.read_namespaced_pod_log(self.name, self.backend.namespace, container="skill",
                                                   _preload_content=False, **kwargs)
            return response.data.decode("utf-8", "replace")

        try:
            text = read(limit_bytes=self.limits.max_output_chars * 4)
            if self.request["marker"] not in text:  # long output: the result is in the last two lines
                tail = read(tail_lines=2)
                if self.request["marker"] in tail:
                    text = text + "\n" + tail
            return text
        except ApiException:
            return ""  # a Pod stopped before its container started has no log

    def _delete(self, api: Any, made: list[str]) -> None:
        ns = self.backend.namespace
        for kind in reversed(made):
            for _ in range(3):
                try:
                    if kind == "pod":
                        api.delete_namespaced_pod(self.name, ns, grace_period_seconds=0)
                    else:
                        api.delete_namespaced_config_map(self.name, ns)
                    break
                except Exception as exc:  # noqa: BLE001 - retried; 404 means already gone
                    if getattr(exc, "status", None) == 404:
                        break
                    time.sleep(0.2)


__all__ = ["KubernetesSandboxBackend", "SANDBOX_LABEL"]
