"""A stand-in Kubernetes API server for the kubernetes sandbox backend's and Gateway launcher's tests.

It speaks the handful of core/v1 calls those make (create/read/list/delete
Pod, ConfigMap and Service in a namespace, read a Pod's log, following it)
with the real API's JSON shapes, on 127.0.0.1 over real HTTP, so the
official client is exercised for real. Deleting an object deletes the
objects whose ``ownerReferences`` name it (the garbage collector, in the
background mode).

Two kinds of Pod are "run":

- a skill Pod: its ConfigMap volumes are materialised in a temporary folder
  and its command started with the process backend's :class:`Isolation`
  (bubblewrap + rlimits where available); the runner, the log and the exit
  code are real, the kubelet, scheduler and cgroups are not.
  ``activeDeadlineSeconds`` ends the Pod as ``Failed``/``DeadlineExceeded``.
- a Gateway Pod (label ``evotraders.component=gateway``): the image's
  ``gateway ...`` command runs as ``python -m gateway ...`` through the
  process supervisor's :class:`ManagedProcess`, with the Pod's env, bound to
  the Pod's own IP (a fresh loopback address, ``127.77.x.y``, where a real
  Pod binds ``0.0.0.0`` in its network namespace). Its log is live (``follow``
  streams it), readiness comes from its readinessProbe, and a delete sends
  SIGTERM with the grace period, then SIGKILL. The PVC is not mounted: the
  Pod's env names the test's runs/ folder, as the volume would.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import signal
import shutil
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from backend.sandbox.isolation import Bind, Isolation
from backend.sandbox.outcome import RUNNER_ARGS
from backend.sandbox.limits import SandboxLimits

ROUTE = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<kind>pods|configmaps|services)"
                   r"(?:/(?P<name>[^/]+))?(?P<log>/log)?$")
GATEWAY_LABEL = ("evotraders.component", "gateway")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str, name: str = "", kind: str = "") -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure" if code >= 400 else "Success",
            "message": message, "reason": reason, "details": {"name": name, "kind": kind}, "code": code}


class FakeKube:
    """The server's state and its pod runner.

    Args:
        isolation: how pod commands are confined (the process backend's machinery).
        namespaces: namespaces that exist (others answer 404 like a real server).
    """

    def __init__(self, isolation: Isolation, namespaces: tuple[str, ...] = ("evotraders",)) -> None:
        self.isolation = isolation
        self.namespaces = set(namespaces)
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.logs: dict[tuple[str, str], str] = {}
        self.created: list[dict[str, Any]] = []  # every body POSTed, for assertions
        self.deleted: list[tuple[str, str]] = []
        self._stops: dict[tuple[str, str], threading.Event] = {}
        self._graces: dict[tuple[str, str], float] = {}
        self._finished: set[tuple[str, str]] = set()
        self._log_changed = threading.Condition()
        self._next_ip = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> "FakeKube":
        self._thread.start()
        return self

    def stop(self) -> None:
        for stop in self._stops.values():
            stop.set()
        self.server.shutdown()
        self.server.server_close()

    def live(self, kind: str) -> list[str]:
        with self.lock:
            return [name for (k, _, name) in self.objects if k == kind]

    # -- HTTP ---------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self) -> tuple[Any, dict[str, list[str]]]:
                url = urlparse(self.path)
                return ROUTE.match(url.path), parse_qs(url.query)

            def do_POST(self) -> None:
                match, _ = self._route()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if match is None or match["name"]:
                    return self._send(404, _status(404, "NotFound", "the server could not find the requested resource"))
                code, answer = fake.create(match["ns"], match["kind"], body)
                self._send(code, answer)

            def do_GET(self) -> None:
                match, query = self._route()
                if match is None:
                    return self._send(404, _status(404, "NotFound", "the server could not find the requested resource"))
                if not match["name"]:
                    return self._send(*fake.list(match["ns"], match["kind"], query))
                if match["log"] and query.get("follow", ["false"])[0] == "true":
                    return self._follow(match["ns"], match["name"])
                if match["log"]:
                    code, text = fake.read_log(match["ns"], match["name"], query)
                    return self._send(code, text if code != 200 else text.encode(),
                                      "text/plain" if code == 200 else "application/json")
                self._send(*fake.read(match["ns"], match["kind"], match["name"]))

            def do_DELETE(self) -> None:
                match, query = self._route()
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                if match is None or not match["name"]:
                    return self._send(404, _status(404, "NotFound", "the server could not find the requested resource"))
                grace = query.get("gracePeriodSeconds", [body.get("gracePeriodSeconds")])[0]
                self._send(*fake.delete(match["ns"], match["kind"], match["name"],
                                        grace=None if grace is None else float(grace)))

            def _follow(self, ns: str, name: str) -> None:
                """A followed Pod log: chunked, as the real API server sends it, until the Pod ends or goes."""
                with fake.lock:
                    exists = ("pods", ns, name) in fake.objects
                if not exists:
                    return self._send(404, _status(404, "NotFound", f'pods "{name}" not found', name, "pods"))
                self.protocol_version = "HTTP/1.1"
                self.close_connection = True
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                sent = 0
                deadline = time.monotonic() + 3600  # bounded like everything else here
                while time.monotonic() < deadline:
                    with fake._log_changed:
                        text = fake.logs.get((ns, name), "")
                        over = (ns, name) in fake._finished
                        if len(text) == sent and not over:
                            fake._log_changed.wait(0.2)
                            continue
                    try:
                        if len(text) > sent:
                            data = text[sent:].encode()
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                            self.wfile.flush()
                            sent = len(text)
                        if over:
                            self.wfile.write(b"0\r\n\r\n")
                            return
                    except OSError:
                        return  # the client went away

        return Handler

    # -- API semantics --------------------------------------------------------------
    def create(self, ns: str, kind: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = body.get("metadata", {}).get("name", "")
        if ns not in self.namespaces:
            return 404, _status(404, "NotFound", f'namespaces "{ns}" not found', ns, "namespaces")
        with self.lock:
            if (kind, ns, name) in self.objects:
                return 409, _status(409, "AlreadyExists", f'{kind} "{name}" already exists', name, kind)
            self.created.append(body)
            obj = json.loads(json.dumps(body))
            obj["metadata"].update(namespace=ns, uid=str(uuid.uuid4()), resourceVersion="1",
                                   creationTimestamp=_now())
            if kind == "pods":
                obj["status"] = {"phase": "Pending", "qosClass": "Guaranteed"}
                stop = self._stops[(ns, name)] = threading.Event()
                gateway = obj["metadata"].get("labels", {}).get(GATEWAY_LABEL[0]) == GATEWAY_LABEL[1]
                target = self._run_gateway_pod if gateway else self._run_pod
                threading.Thread(target=target, args=(ns, name, obj, stop), daemon=True).start()
            if kind == "services":
                self._next_ip += 1
                obj["spec"]["clusterIP"] = f"10.96.{self._next_ip // 250}.{self._next_ip % 250 + 1}"
            self.objects[(kind, ns, name)] = obj
            return 201, obj

    def read(self, ns: str, kind: str, name: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            obj = self.objects.get((kind, ns, name))
            if obj is None:
                return 404, _status(404, "NotFound", f'{kind} "{name}" not found', name, kind)
            return 200, json.loads(json.dumps(obj))

    def list(self, ns: str, kind: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """A list, filtered by an equality ``labelSelector`` (``a=b,c=d``)."""
        wanted = dict(part.split("=", 1) for part in query.get("labelSelector", [""])[0].split(",") if "=" in part)
        with self.lock:
            items = [json.loads(json.dumps(obj)) for (k, n, _), obj in self.objects.items() if k == kind and n == ns
                     and all(obj["metadata"].get("labels", {}).get(a) == b for a, b in wanted.items())]
        kinds = {"pods": "PodList", "configmaps": "ConfigMapList", "services": "ServiceList"}
        return 200, {"kind": kinds[kind], "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}

    def delete(self, ns: str, kind: str, name: str, grace: float | None = None) -> tuple[int, dict[str, Any]]:
        with self.lock:
            obj = self.objects.pop((kind, ns, name), None)
            self.deleted.append((kind, name))
        if obj is None:
            return 404, _status(404, "NotFound", f'{kind} "{name}" not found', name, kind)
        if kind == "pods":
            if grace is not None:
                self._graces[(ns, name)] = grace
            self._stops[(ns, name)].set()
        self._collect_dependents(ns, obj["metadata"]["uid"])
        if kind == "pods":
            return 200, obj
        return 200, _status(200, "", "", name, kind)

    def _collect_dependents(self, ns: str, uid: str) -> None:
        """The garbage collector: delete every object whose ownerReferences name ``uid``."""
        with self.lock:
            dependents = [(k, name) for (k, n, name), obj in self.objects.items() if n == ns and any(
                ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences", []))]
        for k, name in dependents:
            self.delete(ns, k, name)

    def read_log(self, ns: str, name: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        with self.lock:
            if ("pods", ns, name) not in self.objects:
                return 404, _status(404, "NotFound", f'pods "{name}" not found', name, "pods")
            text = self.logs.get((ns, name))
        if text is None:
            return 400, _status(400, "BadRequest", f'container "skill" in pod "{name}" is waiting to start')
        if "tailLines" in query:
            text = "".join(text.splitlines(keepends=True)[-int(query["tailLines"][0]):])
        if "limitBytes" in query:
            text = text.encode()[: int(query["limitBytes"][0])].decode("utf-8", "ignore")
        return 200, text

    # -- the "kubelet" ----------------------------------------------------------------
    def _set_status(self, ns: str, name: str, **status: Any) -> None:
        with self.lock:
            obj = self.objects.get(("pods", ns, name))
            if obj is not None:
                obj["status"].update(status)

    def _run_pod(self, ns: str, name: str, pod: dict[str, Any], stop: threading.Event) -> None:
        folder = Path(tempfile.mkdtemp(prefix="fake-kubelet-"))
        try:
            asyncio.run(self._run_container(ns, name, pod, folder, stop))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _materialise(self, ns: str, pod: dict[str, Any], folder: Path) -> list[Bind]:
        container = pod["spec"]["containers"][0]
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        binds = []
        for mount in container["volumeMounts"]:
            source = volumes[mount["name"]].get("configMap")
            if source is None:
                continue  # emptyDir /tmp: the sandbox brings its own
            with self.lock:
                cm = self.objects[("configmaps", ns, source["name"])]
            target = folder / mount["name"]
            for item in source["items"]:
                path = target / item["path"]
                path.parent.mkdir(parents=True, exist_ok=True)
                if item["key"] in cm.get("data", {}):
                    path.write_text(cm["data"][item["key"]], encoding="utf-8")
                else:
                    path.write_bytes(base64.b64decode(cm["binaryData"][item["key"]]))
            binds.append(Bind(target, mount["mountPath"]))
        return binds

    async def _run_container(self, ns: str, name: str, pod: dict[str, Any], folder: Path,
                             stop: threading.Event) -> None:
        container = pod["spec"]["containers"][0]
        binds = self._materialise(ns, pod, folder)
        work = folder / "work"
        work.mkdir()
        deadline = float(pod["spec"]["activeDeadlineSeconds"])
        limits = SandboxLimits(timeout_s=deadline + 5,
                               memory_bytes=int(container["resources"]["limits"]["memory"]))
        args = [a for a in container["command"][1:] if a not in RUNNER_ARGS]
        if not self.isolation.confined:  # the runner finds the skill by host path
            args.append(self.isolation.inner_path("/skill", binds, work))
        child = await self.isolation.spawn(args, binds, work, limits)
        started = _now()
        self._set_status(ns, name, phase="Running", startTime=started, containerStatuses=[
            self._container_status(container, {"running": {"startedAt": started}})])
        communicate = asyncio.ensure_future(child.communicate(b"", limits.timeout_s, 1 << 20))
        await asyncio.sleep(0)  # let it take the result pipe: a kill (pod deleted at once) closes what is left
        begun = time.monotonic()
        while not communicate.done():
            if stop.is_set() or time.monotonic() - begun > deadline:
                child.kill()
                break
            await asyncio.sleep(0.02)
        raw = await communicate
        self.logs[(ns, name)] = raw.stdout + raw.stderr
        if stop.is_set():
            return
        if time.monotonic() - begun > deadline:
            self._set_status(ns, name, phase="Failed", reason="DeadlineExceeded",
                             message="Pod was active on the node longer than the specified deadline")
            return
        code = raw.exit_status or 0
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                      "startedAt": started, "finishedAt": _now()}
        self._set_status(ns, name, phase="Succeeded" if code == 0 else "Failed", containerStatuses=[
            self._container_status(container, {"terminated": terminated})])

    # -- the "kubelet" of a Gateway Pod -----------------------------------------------------
    def _pod_ip(self) -> str:
        with self.lock:
            self._next_ip += 1
            n = self._next_ip
        return f"127.77.{n // 250}.{n % 250 + 1}"

    def _append_log(self, ns: str, name: str, line: str) -> None:
        with self._log_changed:
            self.logs[(ns, name)] = self.logs.get((ns, name), "") + line + "\n"
            self._log_changed.notify_all()

    def _run_gateway_pod(self, ns: str, name: str, pod: dict[str, Any], stop: threading.Event) -> None:
        try:
            asyncio.run(self._run_gateway(ns, name, pod, stop))
        finally:
            with self._log_changed:
                self._finished.add((ns, name))
                self._log_changed.notify_all()

    async def _run_gateway(self, ns: str, name: str, pod: dict[str, Any], stop: threading.Event) -> None:
        import sys
        from dataclasses import replace

        import httpx

        from backend.paths import PROJECT_ROOT
        from backend.supervisor.managed_process import ManagedProcess
        from backend.supervisor.process_spec import ProcessSpec

        container = pod["spec"]["containers"][0]
        command = list(container.get("args") or container.get("command") or [])
        if not command or command[0] != "gateway":
            self._set_status(ns, name, phase="Failed", reason="StartError",
                             message=f"this stand-in only runs the image's gateway command, not {command[:1]}")
            return
        ip = self._pod_ip()
        args = command[1:]
        if "--host" in args:
            args[args.index("--host") + 1] = ip  # 0.0.0.0 in the Pod's own network namespace
        env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
        grace = float(pod["spec"].get("terminationGracePeriodSeconds", 30))
        spec = ProcessSpec(name=name[:64], argv=[sys.executable, "-m", "gateway", *args], env=env, cwd=PROJECT_ROOT,
                           grace_seconds=grace)
        proc = ManagedProcess(spec)
        proc.line.connect(lambda event: self._append_log(ns, name, event.line))
        await proc.start()
        started = _now()
        # hostPid: not a Kubernetes field; lets a test crash the "container" (SIGKILL its process).
        self._set_status(ns, name, phase="Running", podIP=ip, hostPid=proc.pid, startTime=started, containerStatuses=[
            self._container_status(container, {"running": {"startedAt": started}})])
        probe = (container.get("readinessProbe") or {}).get("httpGet")
        ready = probe is None
        async with httpx.AsyncClient(timeout=1.0, trust_env=False) as client:
            while proc.supervised and not stop.is_set():
                if not ready:
                    with contextlib.suppress(httpx.HTTPError):
                        ready = (await client.get(f"http://{ip}:{probe['port']}{probe['path']}")).status_code == 200
                    if ready:
                        status = self._container_status(container, {"running": {"startedAt": started}})
                        status["ready"] = True
                        self._set_status(ns, name, containerStatuses=[status],
                                         conditions=[{"type": "Ready", "status": "True"}])
                await asyncio.sleep(0.05 if ready else 0.2)
        if stop.is_set():
            proc.spec = replace(proc.spec, grace_seconds=self._graces.get((ns, name), grace))
            await proc.stop()
        while proc.supervised:
            await asyncio.sleep(0.05)
        last = proc.last_exit
        code = 0 if last is None else last.exit_code if last.exit_code is not None else 128 + (
            signal.Signals[last.signal].value if last.signal in signal.Signals.__members__ else 9)
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                      "startedAt": started, "finishedAt": _now()}
        self._set_status(ns, name, phase="Succeeded" if code == 0 else "Failed", containerStatuses=[
            self._container_status(container, {"terminated": terminated})])

    @staticmethod
    def _container_status(container: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        return {"name": container["name"], "image": container["image"], "imageID": "", "ready": False,
                "restartCount": 0, "started": "running" in state, "state": state}
