"""The local stack's preloading fork server, and what a service imports at start.

- With ``stack_preload`` (the default) every service and the run's Gateway is
  forked from the stack's fork server (or, with ``SIBLING_SERVES``, its sibling
  for the other three; the Gateways from the Gateways' sibling, ``GATEWAY_SIBLING``):
  a process of its own (own pid and session, its own log), whose parent is the
  fork server, restarted and stopped like any other (a Gateway whose sibling died
  comes back forked by the server); with ``stack_preload=False`` each is a fresh
  interpreter, our child.
- Every preloaded module imports without starting a thread or reading settings
  (a fork would inherit them).
- No service's app, and no Gateway of a rules run, imports the Docker or
  Kubernetes SDKs or the OpenAI SDK at start.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from backend.clients.services import runtime_client
from backend.config import load_settings
from backend.stack.launcher import StackLauncher
from backend.stack.local_stack import LocalStack
from backend.stack.preload import (GATEWAY_BASE, GATEWAY_SERVES, LATER_MODULES, OWN_MODULES, PRELOAD_MODULES,
                                   SIBLING_MODULES, SIBLING_SERVES, fork_server_lists)
from backend.supervisor import ProcessStatus
from tests.support.waiting import until

ROOT = Path(__file__).resolve().parents[2]
FREE = {"agent": 0, "trading": 0, "news": 0, "runtime": 0}
HEAVY = ("docker", "kubernetes", "openai")
ALL = PRELOAD_MODULES + OWN_MODULES + LATER_MODULES + SIBLING_MODULES + GATEWAY_BASE  # what the fork servers import


def imported_by(code: str) -> set[str]:
    env = {**os.environ, "EVOTRADERS_RUNS_DIR": "/nonexistent/runs", "EVOTRADERS_WORKSPACES_DIR": "/nonexistent/ws"}
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize("service", ["agent_service", "trading_service", "news_service", "runtime_service"])
def test_a_service_app_does_not_import_sdks_it_does_not_use(service):
    modules = imported_by(f"from backend.apps.{service}.app import create_app")
    tops = {name.split(".")[0] for name in modules}
    assert not tops & set(HEAVY), f"{service} imports {sorted(tops & set(HEAVY))} at start"


def test_the_gateway_does_not_import_the_llm_sdk_for_a_rules_run():
    modules = imported_by("import gateway.cli, gateway.server, gateway.engine_driver, gateway.approvals_wiring\n"
                          "import backend.pipeline.engine")
    assert not {name.split(".")[0] for name in modules} & set(HEAVY)


def test_preloaded_modules_start_no_thread_and_read_no_settings():
    code = ("import importlib, threading\n"
            f"for name in {ALL!r}: importlib.import_module(name)\n"
            "import backend.config as c\n"
            "assert threading.active_count() == 1, threading.enumerate()\n"
            "assert c.get_settings.cache_info().currsize == 0, 'settings read at import'\n")
    modules = imported_by(code)
    assert set(ALL) <= modules
    assert "httpx" in modules and "rich" not in modules  # httpx's command-line client is kept out


def _parent(pid: int) -> int:
    return psutil.Process(pid).ppid()


@pytest.mark.slow
@pytest.mark.parametrize("preload", [True, False])
async def test_the_stack_forks_its_services_and_gateway_from_one_preloaded_process(tmp_path, preload):
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws", stack_preload=preload)
    stack = LocalStack(settings, state_dir=tmp_path / ".stack", ports=FREE)
    launcher = StackLauncher(stack)
    runs = runtime_client(stack.urls["runtime"], launcher.endpoint.admin_token)
    try:
        result = await launcher.launch()
        assert result.started and not result.problems, result
        gateway = await launcher.start_run(runs, {"workspace": "default", "end_date": "2025-01-10"}, paused=True)
        assert gateway["status"] == "healthy"
        procs = {p.name: p for p in stack.supervisor.processes}
        pids = {name: p.pid for name, p in procs.items()}
        assert len(set(pids.values()) | {gateway["pid"]}) == 5  # five processes of their own
        for pid in [*pids.values(), gateway["pid"]]:
            assert os.getsid(pid) == pid  # each leads its own session (stop signals its group)
        server = stack.forkserver._child.pid if preload else os.getpid()
        expected_parent = server
        if preload:
            if SIBLING_SERVES:  # agent, trading and news come from the fork server's sibling
                expected_parent = _parent(pids["news"])
                assert expected_parent != server and _parent(expected_parent) == server
            assert {_parent(pids[name]) for name in ("agent", "trading", "news")} == {expected_parent}
            assert _parent(pids["runtime"]) == server
            if fork_server_lists()["sibling_serves"] == GATEWAY_SERVES:
                # runtime_service had it forked by the Gateways' sibling fork server, the server's child
                gateways = _parent(gateway["pid"])
                assert gateways not in (server, *pids.values()) and _parent(gateways) == server
            else:
                assert _parent(gateway["pid"]) == server  # runtime_service had it forked too
        else:
            assert stack.forkserver is None
            assert all(_parent(pid) == os.getpid() for pid in pids.values())
            assert _parent(gateway["pid"]) == pids["runtime"]
        assert any("Uvicorn running on" in line for line in procs["news"].lines())
        assert "Uvicorn running on" in (tmp_path / ".stack" / "logs" / "news.log").read_text()

        # A killed service is restarted (forked again when preloading), and answers again.
        news = procs["news"]
        os.kill(news.pid, signal.SIGKILL)
        await until(lambda: news.pid not in (None, pids["news"]) and news.status is ProcessStatus.healthy, 60,
                    "news_service restarted")
        assert news.restarts == 1
        assert _parent(news.pid) == expected_parent
    finally:
        await runs.http.aclose()
        await launcher.stop()
    everything = [*pids.values(), gateway["pid"]]
    await until(lambda: not [p for p in everything if psutil.pid_exists(p)
                             and psutil.Process(p).status() != psutil.STATUS_ZOMBIE], 30, "every process gone")
    assert not psutil.Process().children(recursive=True)


@pytest.mark.slow
async def test_a_gateway_whose_fork_server_died_is_restarted_forked_by_the_stacks_fork_server(tmp_path):
    if fork_server_lists()["sibling_serves"] != GATEWAY_SERVES:
        pytest.skip("the Gateways have no fork server of their own (backend.stack.preload.GATEWAY_SIBLING off)")
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    stack = LocalStack(settings, state_dir=tmp_path / ".stack", ports=FREE)
    launcher = StackLauncher(stack)
    runs = runtime_client(stack.urls["runtime"], launcher.endpoint.admin_token)
    try:
        result = await launcher.launch()
        assert result.started and not result.problems, result
        started = await launcher.start_run(runs, {"workspace": "default", "end_date": "2025-01-10"}, paused=True)
        first, server = started["pid"], stack.forkserver._child.pid
        gateways = _parent(first)
        assert gateways != server and _parent(gateways) == server
        os.kill(gateways, signal.SIGKILL)  # the Gateway dies with it (its parent-death signal)
        latest: dict = {}
        for _ in range(600):  # bounded: 600 looks, 0.1 s apart at most
            latest = await runs.gateway(started["run_id"])
            if latest.get("status") == "healthy" and latest.get("pid") not in (None, first):
                break
            await asyncio.sleep(0.1)
        assert latest.get("status") == "healthy" and latest["pid"] != first, latest
        assert _parent(latest["pid"]) == server  # the stack's fork server forked it instead
        assert all(p.status is ProcessStatus.healthy for p in stack.supervisor.processes)  # the services kept on
    finally:
        await runs.http.aclose()
        await launcher.stop()
    assert not psutil.Process().children(recursive=True)
