"""pause/resume/pace relayed to a Gateway that does not answer: runtime_service as a real process.

A SIGSTOPped Gateway accepts TCP connections (the kernel queues them) but
never answers: runtime_service must say 504 with a detail naming the run,
in about its command timeout (3 s) -- the client here gives up after 8 s,
where it used to get a 500 after 10 s.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.services.test_runtime_service import ADMIN, OPERATOR, TOKENS, VIEWER, auth
from tests.services.trading_news_support import data_env, run_service

CLIENT_TIMEOUT = 8.0  # above the service's 3 s command timeout, below the old 10 s hang


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    gen = run_service("runtime_service", data_env(tmp_path_factory.mktemp("relay"), **TOKENS))
    yield next(gen)
    next(gen, None)


@pytest.fixture(scope="module")
def gateway_pid(service) -> Iterator[int]:
    """A slow run's healthy Gateway (a day every 0.5 s for months: it is running throughout)."""
    created = httpx.post(f"{service.url}/runs", headers=auth(ADMIN), json={
        "workspace": "default", "run_id": "slow", "start_date": "2025-02-03", "end_date": "2025-06-30",
        "tickers": ["AAPL", "MSFT"]})
    assert created.status_code == 201, created.text
    started = httpx.post(f"{service.url}/runs/slow/start", headers=auth(ADMIN), json={"pace": 0.5}, timeout=60)
    assert started.status_code == 200 and started.json()["status"] == "healthy", started.text
    yield started.json()["pid"]
    httpx.post(f"{service.url}/runs/slow/stop", headers=auth(ADMIN), timeout=60)


COMMANDS = [("pause", None, "pause accepted"), ("resume", None, None), ("pace", {"seconds": 0.4}, None)]


@pytest.mark.parametrize("verb, body, content", COMMANDS)
def test_a_stopped_gateway_is_a_prompt_504_naming_the_run(service, gateway_pid, verb, body, content):
    os.kill(gateway_pid, signal.SIGSTOP)
    try:
        answer = httpx.post(f"{service.url}/runs/slow/{verb}", headers=auth(OPERATOR), json=body,
                            timeout=CLIENT_TIMEOUT)
    finally:
        os.kill(gateway_pid, signal.SIGCONT)
    assert answer.status_code == 504, answer.text
    payload = answer.json()
    assert payload["error"] == "timeout"
    command = {"pace": "set_pace"}.get(verb, verb)
    assert payload["detail"].startswith("run 'slow': its Gateway at ws://127.0.0.1:")
    assert f"did not answer {command} within 3 s" in payload["detail"]
    assert ADMIN not in answer.text and OPERATOR not in answer.text
    # Woken up, the same Gateway answers the same command at once.
    again = httpx.post(f"{service.url}/runs/slow/{verb}", headers=auth(OPERATOR), json=body, timeout=CLIENT_TIMEOUT)
    assert again.status_code == 200, again.text
    if content:
        assert again.json()["content"] == content


def test_relayed_commands_declare_503_and_504(service):
    schema = httpx.get(f"{service.url}/openapi.json", headers=auth(VIEWER)).json()
    for verb in ("pause", "resume", "pace"):
        responses = schema["paths"][f"/runs/{{run_id}}/{verb}"]["post"]["responses"]
        assert {"503", "504"} <= set(responses), verb
        assert responses["504"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


def test_the_gateway_survived_being_stopped_and_its_run_went_on(service, gateway_pid):
    deadline = time.monotonic() + 30
    while True:  # bounded: the run advances at a day every 0.4-0.5 s once resumed
        info = httpx.get(f"{service.url}/runs/slow/gateway", headers=auth(VIEWER)).json()
        if info["health"] and info["health"]["status"] == "running" and info["health"]["days_completed"] > 0:
            break
        assert time.monotonic() < deadline, info
        time.sleep(0.1)
    assert info["pid"] == gateway_pid and info["restarts"] == 0
