"""A finished backtest's Gateway waits for a client to restart it on an event, not by polling."""

from __future__ import annotations

import asyncio

from backend.pipeline.engine import RunEngine
from gateway.engine_driver import EngineRunDriver

WINDOW = {"start_date": "2025-02-03", "end_date": "2025-02-04", "tickers": ["AAPL"]}


async def test_wait_started_returns_when_a_client_restarts_the_run(store, settings) -> None:
    store.create_run("default", run_id="again", overrides=WINDOW)
    runtime = EngineRunDriver(RunEngine(store, "again", settings, write_every_stage=False))
    runtime.start()
    try:
        await runtime.wait_started()  # a drive task is running: returns at once
        assert await runtime.wait() == "completed"
        waiter = asyncio.create_task(runtime.wait_started())
        await asyncio.sleep(0)
        assert not waiter.done() and not runtime.running  # finished, nobody restarted it yet
        await runtime.start_backtest([])  # what a client's start_backtest does
        await asyncio.wait_for(waiter, timeout=30)
        assert await runtime.wait() == "completed"
        assert runtime.engine.state.last_completed_date == "2025-02-04"
    finally:
        await runtime.close()
