"""runtime_service as a real process: lifecycle, errors, roles."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.services.trading_news_support import backtest_data, data_env, run_service

ADMIN, OPERATOR, VIEWER = "admin-token-for-tests-000000", "operator-token-for-tests-00", "viewer-token-for-tests-0000"
TOKENS = {"EVOTRADERS_ADMIN_TOKEN": ADMIN, "EVOTRADERS_OPERATOR_TOKEN": OPERATOR, "EVOTRADERS_VIEWER_TOKEN": VIEWER}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


data = backtest_data("runtime", "done")


@pytest.fixture(scope="module")
def service(data):
    gen = run_service("runtime_service", data_env(data, **TOKENS))
    yield next(gen)
    next(gen, None)


def test_history_lists_the_finished_run_with_metrics(service):
    rows = httpx.get(f"{service.url}/runs", headers=auth(VIEWER)).json()
    done = next(r for r in rows if r["run_id"] == "done")
    assert done["status"] == "completed" and done["progress"] == 1.0
    assert done["metrics"]["trades"] > 0 and "sharpe" in done["metrics"]
    assert done["gateway"]["status"] == "stopped"


def test_create_start_pause_resume_and_stop_a_run(service):
    url = service.url
    created = httpx.post(f"{url}/runs", headers=auth(ADMIN), json={
        "workspace": "default", "run_id": "live1", "start_date": "2025-02-03", "end_date": "2025-06-30",
        "tickers": ["AAPL", "MSFT"]})
    assert created.status_code == 201, created.text
    started = httpx.post(f"{url}/runs/live1/start", headers=auth(ADMIN), json={"pace": 0.2}, timeout=60).json()
    assert started["status"] == "healthy" and started["url"].startswith("ws://127.0.0.1:")
    assert httpx.post(f"{url}/runs/live1/start", headers=auth(ADMIN), json={}).status_code == 409
    paused = httpx.post(f"{url}/runs/live1/pause", headers=auth(OPERATOR), timeout=30)
    assert paused.status_code == 200 and paused.json()["content"] == "pause accepted"
    deadline = time.monotonic() + 30
    while httpx.get(f"{url}/runs/live1/gateway", headers=auth(VIEWER)).json()["health"]["status"] != "paused":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    progress = httpx.get(f"{url}/runs/live1", headers=auth(VIEWER)).json()["progress"]
    time.sleep(1.0)
    assert httpx.get(f"{url}/runs/live1", headers=auth(VIEWER)).json()["progress"] == progress  # really paused
    assert httpx.post(f"{url}/runs/live1/resume", headers=auth(OPERATOR), timeout=30).status_code == 200
    logs = httpx.get(f"{url}/runs/live1/logs", headers=auth(VIEWER), params={"tail": 50}).json()
    assert any("gateway listening" in line for line in logs["lines"])
    state = httpx.get(f"{url}/runs/live1/state", headers=auth(VIEWER)).json()
    assert state["runtime_state"]["run_id"] == "live1" and state["server_state"]["is_backtest"] is True
    stopped = httpx.post(f"{url}/runs/live1/stop", headers=auth(ADMIN), timeout=60).json()
    assert stopped["status"] == "stopped"
    runtime = httpx.get(f"{url}/runs/live1/state", headers=auth(VIEWER)).json()["runtime_state"]
    assert runtime["status"] == "stopped"  # SIGTERM let it flush its state


@pytest.mark.parametrize("method,path,body,status", [
    ("GET", "/runs/nope", None, 404),
    ("GET", "/runs/..%2F..%2Fetc", None, 404),
    ("GET", "/runs/a%20b/state", None, 422),
    ("POST", "/runs", {"workspace": "../etc"}, 400),
    ("POST", "/runs", {"workspace": "default", "run_id": "x/y"}, 400),
    ("POST", "/runs", {"workspace": "default", "start_date": "2025-05-01", "end_date": "2025-01-01"}, 422),
    ("POST", "/runs", {"workspace": "default", "tickers": ["not a ticker"]}, 422),
    ("POST", "/runs", {"workspace": "default", "run_id": "done"}, 409),
    ("POST", "/runs/done/start", {"pace": -1}, 422),
    ("POST", "/runs/nope/stop", None, 404),
    ("PUT", "/sandbox/settings", {"mode": "chroot"}, 422),
    ("PUT", "/sandbox/settings", {"memory_limit": "lots"}, 422),
])
def test_bad_input_is_a_clear_4xx(service, method, path, body, status):
    answer = httpx.request(method, f"{service.url}{path}", headers=auth(ADMIN), json=body)
    assert answer.status_code == status, answer.text
    payload = answer.json()
    assert set(payload) >= {"error", "detail"} and payload["detail"]


def test_roles_are_enforced(service):
    url = service.url
    assert httpx.get(f"{url}/runs").status_code == 401
    assert httpx.get(f"{url}/runs", headers=auth("wrong-token-xxxxxxxxxxxxxx")).status_code == 401
    assert httpx.post(f"{url}/runs", headers=auth(OPERATOR), json={"workspace": "default"}).status_code == 403
    assert httpx.post(f"{url}/runs/done/pause", headers=auth(VIEWER)).status_code == 403
    assert httpx.put(f"{url}/sandbox/settings", headers=auth(OPERATOR), json={"mode": "process"}).status_code == 403
    assert httpx.get(f"{url}/health").status_code == 200


def test_sandbox_settings_round_trip_and_probe(service, data):
    url = service.url
    saved = httpx.put(f"{url}/sandbox/settings", headers=auth(ADMIN), json={"mode": "process", "timeout": 20})
    assert saved.status_code == 200 and saved.json()["mode"] == "process"
    assert httpx.get(f"{url}/sandbox/settings", headers=auth(VIEWER)).json()["timeout"] == 20
    assert (data / "runs" / ".runtime" / "sandbox.json").is_file()
    probe = httpx.post(f"{url}/sandbox/probe", headers=auth(ADMIN), json={"mode": "process"}, timeout=60).json()
    assert probe["mode"] == "process" and probe["ok"] is True and probe["duration_ms"] > 0
    httpx.put(f"{url}/sandbox/settings", headers=auth(ADMIN), json={"mode": "none"})


def test_bootstrap_and_events_of_a_run_are_served(service, data):
    text = httpx.get(f"{service.url}/runs/done/bootstrap", headers=auth(VIEWER)).json()["text"]
    assert text == (data / "runs/done/BOOTSTRAP.md").read_text()
    answer = httpx.get(f"{service.url}/runs/done/events", headers=auth(VIEWER), params={"offset": 2, "limit": 5})
    assert answer.status_code == 200
    expected = (data / "runs/done/logs/events.jsonl").read_text().splitlines()[2:7]
    assert answer.text.splitlines() == expected
