"""Approval latency: from a decision request to ``approval_resolved`` and to the trade.

Starts agent_service and a Gateway (a run with approval policy ``all``) as
subprocesses on free ports, watches the run on a WebSocket client, and as
soon as the run waits for approvals approves every pending one through the
HTTP API. For each decision it measures the time from sending the request
to the ``approval_resolved`` frame on the WebSocket; for the last decision
of each day, the time to the day's ``team_trades`` frame.

    .venv/bin/python bench/approval_latency.py [--end 2025-03-31] [--tickers AAPL,MSFT,NVDA,TSLA] [--json]

Target: p95 under 500 ms for both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the stack helpers live with the tests

from websockets.asyncio.client import connect  # noqa: E402

from backend.approvals.client import ApprovalsClient  # noqa: E402
from backend.security.tokens import Role, generate_registry  # noqa: E402
from tests.approvals.stack import AgentService, create_run, free_port, run_env, stack_env  # noqa: E402

TARGET_P95_MS = 500.0
LISTEN_RE = re.compile(r"gateway listening on (ws://\S+) ")


def start_gateway(env: dict[str, str], run_id: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    log = open(log_path, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--run-id", run_id, "--port", "0", "--paused",
                             "--exit-when-done"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
                            start_new_session=True)
    log.close()
    assert proc.stdout is not None
    match = LISTEN_RE.search(proc.stdout.readline())
    if not match:
        proc.kill()
        raise SystemExit(f"gateway did not start; see {log_path}")
    return proc, match.group(1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(values_ms: list[float]) -> dict[str, float]:
    if not values_ms:
        return {"n": 0}
    return {"n": len(values_ms), "p50_ms": round(statistics.median(values_ms), 2),
            "p95_ms": round(percentile(values_ms, 0.95), 2), "max_ms": round(max(values_ms), 2)}


async def measure(url: str, token: str, api: ApprovalsClient) -> tuple[list[float], list[float], list[float]]:
    sent: dict[str, float] = {}
    request_ms: list[float] = []
    resolved_ms: list[float] = []
    trade_ms: list[float] = []
    pending: list[str] = []
    last_of_day: str | None = None
    deciding: asyncio.Task[None] | None = None

    async def decide_all(ids: list[str]) -> None:
        for approval_id in ids:
            sent[approval_id] = time.perf_counter()
            await api.decide(approval_id, "approve", reason="bench")
            request_ms.append((time.perf_counter() - sent[approval_id]) * 1000)

    async with connect(f"{url}?token={token}", max_size=None) as ws:
        await ws.recv()  # hello
        await ws.recv()  # initial_state
        await ws.send(json.dumps({"type": "resume"}))
        async for raw in ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            kind = frame["type"]
            if kind == "approval_requested":
                pending.append(frame["approval_id"])
            elif kind == "run_status" and frame["status"] == "waiting_approval":
                ids, pending = pending, []
                last_of_day = ids[-1] if ids else None
                deciding = asyncio.create_task(decide_all(ids))
            elif kind == "approval_resolved" and frame["approval_id"] in sent:
                resolved_ms.append((now - sent[frame["approval_id"]]) * 1000)
            elif kind == "team_trades" and last_of_day in sent:
                trade_ms.append((now - sent[last_of_day]) * 1000)
                last_of_day = None
            elif kind == "run_status" and frame["status"] in ("completed", "failed", "stopped"):
                break
    if deciding is not None:
        await deciding
    return request_ms, resolved_ms, trade_ms


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="approval-bench-"))
    registry = generate_registry()
    port = free_port()
    env = stack_env(root, registry, f"http://127.0.0.1:{port}")
    service = AgentService(env, root / "agent_service.log", port).start()
    create_run(root, "bench", {"mode": "all", "timeout_seconds": 600}, start=args.start, end=args.end,
               tickers=args.tickers)
    proc, url = start_gateway(run_env(env, registry, "bench"), "bench", root / "gateway.log")
    token = registry.tokens[Role.operator]
    try:
        async with ApprovalsClient(service.url, token=token, user="bench") as api:
            request_ms, resolved_ms, trade_ms = await measure(url, token, api)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        service.stop()
    result = {"decision_request": summary(request_ms), "decision_to_approval_resolved": summary(resolved_ms), "decision_to_team_trades": summary(trade_ms),
              "target_p95_ms": TARGET_P95_MS, "workdir": str(root)}
    result["ok"] = all(s.get("p95_ms", 0) < TARGET_P95_MS and s["n"] > 0
                       for s in (result["decision_to_approval_resolved"], result["decision_to_team_trades"]))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2025-02-03")
    parser.add_argument("--end", default="2025-03-31")
    parser.add_argument("--tickers", default="AAPL,MSFT,NVDA,TSLA")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name in ("decision_request", "decision_to_approval_resolved", "decision_to_team_trades"):
            s = result[name]
            print(f"{name:32s} n={s['n']:4d}  p50 {s.get('p50_ms', 0):7.2f} ms  "
                  f"p95 {s.get('p95_ms', 0):7.2f} ms  max {s.get('max_ms', 0):7.2f} ms")
        print(f"target p95 < {TARGET_P95_MS:.0f} ms: {'met' if result['ok'] else 'NOT met'}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
