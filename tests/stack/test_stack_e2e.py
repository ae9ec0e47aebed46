"""A whole local stack as real subprocesses on free ports (issue: control plane).

Brings up agent, trading, news and runtime services, starts a run through
runtime_service (which spawns the Gateway), watches its events, reads trades
and an explanation, kills the Gateway with SIGKILL and sees it restarted and
the run completed, checks that a viewer token can read but not change
anything, then brings the stack down and checks no child process remains.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal

import httpx
import psutil
import pytest
from websockets.asyncio.client import connect

from backend.config import load_settings
from backend.stack.local_stack import LocalStack
from backend.security.tokens import Role

pytestmark = pytest.mark.slow


async def wait_for(predicate, timeout=90.0, interval=0.2):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(interval)


async def test_whole_stack(tmp_path):
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    stack = LocalStack(settings, state_dir=tmp_path / ".stack",
                       ports={"agent": 0, "trading": 0, "news": 0, "runtime": 0})
    tokens = {role: stack.tokens.tokens[role] for role in Role}
    admin = {"Authorization": f"Bearer {tokens[Role.admin]}"}
    viewer = {"Authorization": f"Bearer {tokens[Role.viewer]}"}
    children: set[int] = set()
    try:
        statuses = await stack.up()
        assert statuses == {"agent": "healthy", "trading": "healthy", "news": "healthy", "runtime": "healthy"}
        assert oct((tmp_path / ".stack/tokens.json").stat().st_mode & 0o777) == "0o600"
        children |= {p.pid for p in stack.supervisor.processes}
        urls = stack.urls
        async with httpx.AsyncClient(timeout=30) as http:
            created = await http.post(f"{urls['runtime']}/runs", headers=admin, json={
                "workspace": "default", "run_id": "e2e", "start_date": "2025-02-03", "end_date": "2025-03-14",
                "tickers": ["AAPL", "MSFT", "NVDA"]})
            assert created.status_code == 201, created.text
            started = await http.post(f"{urls['runtime']}/runs/e2e/start", headers=admin, json={"pace": 0.15})
            assert started.status_code == 200, started.text
            gateway = started.json()
            assert gateway["status"] == "healthy" and gateway["pid"]
            children.add(gateway["pid"])

            # The Gateway streams the run to a viewer.
            async with connect(f"{gateway['url']}?token={tokens[Role.viewer]}") as ws:
                hello = json.loads(await ws.recv())
                assert hello["type"] == "hello" and hello["read_only"] is True and hello["run_id"] == "e2e"
                seen = []
                while not any(f["type"] == "day_complete" for f in seen[-50:]) or len(
                        [f for f in seen if f["type"] == "day_complete"]) < 3:
                    seen.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
                assert any(f["type"] == "pipeline_stage" for f in seen)
                await ws.send(json.dumps({"type": "pause"}))
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if frame["type"] == "error":
                        assert "read-only" in frame["message"]
                        break

            # Trades through trading_service, an explanation through news_service.
            async def some_trades():
                r = await http.get(f"{urls['trading']}/runs/e2e/trades", headers=viewer)
                return r.json() if r.status_code == 200 and r.json()["total"] > 0 else None
            trades = await wait_for(some_trades)
            trade = trades["items"][0]
            explained = await http.get(f"{urls['news']}/runs/e2e/explain/trade/{trade['id']}", headers=viewer)
            assert explained.status_code == 200, explained.text
            why = explained.json()
            assert why["ticker"] == trade["ticker"] and why["date"] == trade["trading_date"]
            assert {s["agent_id"] for s in why["signals"]} == {
                "fundamentals_analyst", "technical_analyst", "sentiment_analyst", "valuation_analyst"}
            assert why["decision"] and why["decision"]["action"] == trade["action"]

            # SIGKILL the Gateway: the controller restarts it and the run completes.
            os.kill(gateway["pid"], signal.SIGKILL)

            async def restarted():
                r = (await http.get(f"{urls['runtime']}/runs/e2e/gateway", headers=viewer)).json()
                return r if r["restarts"] >= 1 and r["status"] == "healthy" and r["pid"] != gateway["pid"] else None
            again = await wait_for(restarted)
            children.add(again["pid"])
            assert "SIGKILL" in (again["last_exit"] or {}).get("reason", "")

            async def completed():
                r = (await http.get(f"{urls['runtime']}/runs/e2e", headers=viewer)).json()
                return r if r["status"] == "completed" else None
            done = await wait_for(completed, timeout=180)
            assert done["progress"] == 1.0 and done["metrics"]["trades"] > 0
            final = (await http.get(f"{urls['trading']}/runs/e2e/trades", headers=viewer,
                                    params={"limit": 1000})).json()
            ids = [t["id"] for t in final["items"]]
            assert len(ids) == len(set(ids)) == done["metrics"]["trades"]  # nothing doubled by the restart

            # A viewer reads everything and changes nothing, on every service.
            for url in (f"{urls['agent']}/workspaces", f"{urls['trading']}/runs/e2e/portfolio",
                        f"{urls['news']}/runs/e2e/news?ticker=AAPL", f"{urls['runtime']}/runs",
                        f"{urls['runtime']}/sandbox/settings"):
                assert (await http.get(url, headers=viewer)).status_code == 200, url
            forbidden = [
                ("POST", f"{urls['runtime']}/runs", {"workspace": "default"}),
                ("POST", f"{urls['runtime']}/runs/e2e/stop", None),
                ("POST", f"{urls['runtime']}/runs/e2e/pause", None),
                ("PUT", f"{urls['runtime']}/sandbox/settings", {"mode": "process"}),
                ("POST", f"{urls['agent']}/workspaces", {"name": "mine"}),
                ("DELETE", f"{urls['agent']}/workspaces/default", None),
                ("POST", f"{urls['agent']}/approvals/nope/decision", {"decision": "approve"}),
            ]
            for method, url, body in forbidden:
                r = await http.request(method, url, headers=viewer, json=body)
                assert r.status_code == 403, (method, url, r.status_code, r.text)
                assert r.json()["error"] == "forbidden"
            for method, url, body in forbidden[:1]:
                assert (await http.request(method, url, json=body)).status_code == 401
    finally:
        await stack.down()
    await asyncio.sleep(0.5)
    alive = [pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert alive == []
    assert [c.pid for c in psutil.Process().children(recursive=True)] == []
