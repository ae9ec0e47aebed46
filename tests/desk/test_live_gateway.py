"""The Live panel against a REAL Gateway subprocess: the run's real numbers reach the views."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from app.models.profile import LOCAL, Profile
from app.qt.panels.live import LivePanel
from app.session import Session
from tests.support.waiting import until


def _state(runs_dir: Path, run_id: str) -> dict[str, Any]:
    return json.loads((runs_dir / run_id / "state" / "server_state.json").read_text())


def _table(table: Any) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_live_panel_shows_a_real_run(qtbot: Any, arun: Any, gateway_process: Any) -> None:
    run_id = "desk-live"
    url = gateway_process.start("--run-id", run_id, "--create", "--end", "2025-01-17", "--pace", "0", "--paused")
    session = Session(Profile(LOCAL))
    panel = LivePanel()
    qtbot.addWidget(panel)
    panel.attach(session)
    panel.set_read_only(session.read_only_reason)

    async def scenario() -> None:
        client = session.watch_gateway(url)
        await client.wait_connected(15)
        await until(lambda: panel.model.status == "paused", what="the paused run's initial state")
        assert panel.resume_button.isEnabled()  # admin on an open loopback Gateway
        panel.resume_button.click()  # streamed from here: every day's events go through the model
        await until(lambda: panel.model.status == "completed", 90, "the run to complete")
        await until(lambda: _state(gateway_process.runs_dir, run_id).get("status") == "completed", 30,
                    "the final server_state.json")
        panel.flush()
        await session.close()

    arun(scenario(), 150)
    state = _state(gateway_process.runs_dir, run_id)

    # Equity and baselines: the chart holds exactly the run's curves.
    for name in ("equity", "baseline", "baseline_vw", "momentum"):
        xs, ys = panel.charts.equity.curves[name].getData()
        expected = state["portfolio"][name]
        assert [round(v, 6) for v in ys] == [round(p["v"], 6) for p in expected], name
        assert [int(round(x * 1000)) for x in xs] == [p["t"] for p in expected], name
    assert len(state["portfolio"]["equity"]) == state["trading_days_total"] >= 10

    # Holdings: the last team_holdings event (execution) has the run's final positions.
    shown = {row[0]: row[1] for row in _table(panel.holdings)}
    for holding in state["holdings"]:
        quantity = holding["quantity"]
        assert shown[holding["ticker"]] == (f"{quantity:,}" if isinstance(quantity, int) else f"{quantity:,.2f}")
    assert len(shown) == len(state["holdings"])

    # Today's trades: the trades of the last trading day, by id.
    last_day = state["current_date"]
    expected_ids = {t["id"] for t in state["trades"] if t["trading_date"] == last_day}
    assert {row[0] for row in _table(panel.trades)} == expected_ids

    # Feed: the final day's completion carries the final equity; conferences are grouped blocks.
    final_value = state["portfolio"]["total_value"]
    texts = [panel.feed.topLevelItem(i).text(3) for i in range(panel.feed.topLevelItemCount())]
    assert f"Day {last_day} complete: equity {final_value:,.2f}" in texts
    blocks = [panel.feed.topLevelItem(i) for i in range(panel.feed.topLevelItemCount())
              if panel.feed.topLevelItem(i).text(2) == "conference"]
    assert blocks and all(b.childCount() > 0 for b in blocks)
    assert "running" not in panel.run_label.text() and "completed" in panel.run_label.text()

    # Stage timings: one day per trading day, each with the pipeline's stages.
    assert len(panel.model.stages) == state["trading_days_total"]
    assert all(math.isfinite(v) and v >= 0 for day in panel.model.stages.values() for v in day.values())
    assert panel.progress.value() == 1000
