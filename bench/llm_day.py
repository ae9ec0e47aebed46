"""Benchmark: one day's `llm` analysts against a local chat server, beside the bare openai SDK.

The server (tests/agents/chat_server.py, on 127.0.0.1) answers every request
after ``--delay`` seconds, like a model. Measured in the same run:

- bare SDK: ``--analysts`` concurrent ``chat.completions.create`` calls (the floor);
- ours, cap 1: ``LlmPolicy.analyse_many`` with ``LLM_MAX_CONCURRENCY=1`` (the old sequential day);
- ours, cap N: the same with ``LLM_MAX_CONCURRENCY=N`` (prompt building, BM25 over
  ``--reflections`` reflections per agent, parsing, the transcript line and the event);
- per-turn overhead at ``--delay 0``: our turn's median minus the bare call's median.

    .venv/bin/python bench/llm_day.py [--analysts 4] [--delay 0.2] [--days 5] [--reflections 250]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from backend.agents.evo_agent import EvoAgent  # noqa: E402
from backend.agents.llm_policy import LlmPolicy  # noqa: E402
from backend.agents.memory import AgentMemory  # noqa: E402
from backend.agents.profile import AgentProfile  # noqa: E402
from backend.config import load_settings  # noqa: E402
from backend.pipeline.trading_pipeline import DayWork  # noqa: E402
from backend.schema.bootstrap import AgentSpec  # noqa: E402
from backend.schema.trading import TickerSignal  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_chat_server", ROOT / "tests" / "agents" / "chat_server.py")
assert _spec is not None and _spec.loader is not None
chat_server = importlib.util.module_from_spec(_spec)
sys.modules["bench_chat_server"] = chat_server
_spec.loader.exec_module(chat_server)

TICKERS = ["AAPL", "MSFT", "NVDA", "GOOGL", "AMZN"]
ANSWER = {"signals": [{"ticker": t, "signal": "bull", "confidence": 60, "reasoning": f"bench {t}"} for t in TICKERS]}


def _agents(root: Path, n: int, reflections: int) -> list[EvoAgent]:
    agents = []
    for i in range(n):
        agent_id = f"analyst_{i}"
        memory = AgentMemory(root / agent_id / "memory.jsonl")
        for d in range(reflections):
            memory.append({"date": f"2024-{1 + d % 12:02d}-{1 + d % 28:02d}", "score": 0.1,
                           "content": f"{TICKERS[d % 5]} trend {'up' if d % 3 else 'down'}: lesson number {d}"})
        agents.append(EvoAgent(spec=AgentSpec(id=agent_id, role="technical_analyst", policy="llm"),
                               profile=AgentProfile(agent_id=agent_id, role="technical_analyst", persona="bench"),
                               memory=memory))
    return agents


def _work() -> DayWork:
    work = DayWork(dt.date(2025, 3, 3))
    for agent in range(16):
        work.features[f"analyst_{agent}"] = {t: {"features": {"trend": 0.2}, "values": {}} for t in TICKERS}
    return work


def _rules() -> list[TickerSignal]:
    return [TickerSignal(ticker=t, signal="neutral", confidence=1, reasoning=f"rules {t}", score=0.0)
            for t in TICKERS]


async def bare(sdk: openai.AsyncOpenAI, n: int) -> float:
    async def one() -> None:
        await sdk.chat.completions.create(model="bench", messages=[{"role": "user", "content": "hi"}],
                                          temperature=0, seed=0, response_format={"type": "json_object"})
    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter() - started


async def ours(policy: LlmPolicy, agents: list[EvoAgent]) -> float:
    rules = {a.id: _rules() for a in agents}
    started = time.perf_counter()
    out = await policy.analyse_many(agents, _work(), rules, lambda event: None)
    elapsed = time.perf_counter() - started
    assert all(s[0].reasoning == "bench AAPL" for s in out.values()), "a turn fell back"
    return elapsed


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analysts", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--reflections", type=int, default=250)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    server = chat_server.ChatServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    delay = {"value": args.delay}
    server.responder = lambda seen: chat_server.slow(delay["value"], chat_server.answer(ANSWER))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            agents = _agents(root, args.analysts, args.reflections)

            policies: list[LlmPolicy] = []

            def policy(cap: int) -> LlmPolicy:
                settings = load_settings(runs_dir=root / "runs", workspaces_dir=root / "ws",
                                         openai_base_url=server.base_url, llm_max_concurrency=cap, llm_max_retries=0)
                made = LlmPolicy(settings, "bench brief")
                policies.append(made)
                return made

            sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key="bench", max_retries=0)  # one, as ours
            await bare(sdk, 1)  # warm-up: imports, first connection
            sequential, concurrent = policy(1), policy(args.analysts)
            await ours(concurrent, agents)  # warm-up: bm25s, the first connection
            rows = [("bare SDK, concurrent", [await bare(sdk, args.analysts) for _ in range(args.days)]),
                    ("ours, cap 1", [await ours(sequential, agents) for _ in range(args.days)]),
                    (f"ours, cap {args.analysts}", [await ours(concurrent, agents) for _ in range(args.days)])]
            print(f"{args.analysts} analysts, {args.delay:g} s per answer, {args.reflections} reflections each, "
                  f"median of {args.days} days")
            floor = statistics.median(rows[0][1])
            for name, values in rows:
                median = statistics.median(values)
                print(f"  {name:<24} {median * 1000:8.1f} ms/day   x{median / floor:5.2f} of the bare SDK")
            delay["value"] = 0.0
            bare_turn = statistics.median([await bare(sdk, 1) for _ in range(20)])
            single = policy(1)
            our_turn = statistics.median([await ours(single, agents[:1]) for _ in range(20)])
            await sdk.close()
            for made in policies:
                await made.aclose()
            print(f"  per turn at no delay: bare SDK {bare_turn * 1000:.1f} ms, ours {our_turn * 1000:.1f} ms "
                  f"(overhead {(our_turn - bare_turn) * 1000:.1f} ms, x{our_turn / bare_turn:.2f})")
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
