"""Live panel views against a LiveModel: change the model, look at the widgets."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from app.models.live_model import LiveModel
from app.qt.panels.live import LivePanel


def _iso(epoch_ms: int) -> str:
    """An event timestamp as the Gateway writes it (ISO 8601)."""
    return dt.datetime.fromtimestamp(epoch_ms / 1000, dt.timezone.utc).isoformat()


def _trade(trade_id: str, ticker: str, side: str, quantity: int, price: float, trading_date: str) -> dict[str, Any]:
    """A complete team_trades row."""
    return {"id": trade_id, "ticker": ticker, "action": side.lower(), "side": side, "quantity": quantity,
            "qty": quantity, "price": price, "timestamp": 1735851600000, "trading_date": trading_date,
            "notional": quantity * price}


def _panel(qtbot: Any, **model_args: Any) -> LivePanel:
    panel = LivePanel(LiveModel(**model_args))
    qtbot.addWidget(panel)
    return panel


def test_events_do_not_repaint_synchronously_and_refresh_once_per_frame(qtbot: Any) -> None:
    panel = _panel(qtbot)
    panel.flush()
    before = panel.throttle.refreshes
    for i in range(1000):
        panel.model.apply_frame({"type": "price_update", "symbol": "AAPL", "price": 100 + i, "open": 100, "ret": 1.0,
                           "timestamp": _iso(1_700_000_000_000 + i * 1000)})
    assert panel.throttle.refreshes == before  # applying is off the paint path
    panel.flush()
    assert panel.throttle.refreshes == before + 1
    xs, ys = panel.charts.prices.lines["AAPL"].getData()
    assert ys[-1] == 1099.0 and ys[0] == 100.0 and len(ys) <= panel.model.max_price_points  # bounded, decimated
    assert "AAPL" in panel.ticker_bar.text() and "1,099.00" in panel.ticker_bar.text()


def test_holdings_trades_status_and_ticker_bar(qtbot: Any) -> None:
    panel = _panel(qtbot)
    model = panel.model
    model.apply_frame({"type": "hello", "run_id": "r9", "server_mode": "backtest", "read_only": False, "role": "admin"})
    model.apply_frame({"type": "run_status", "run_id": "r9", "status": "running", "progress": 0.5})
    model.apply_frame({"type": "day_start", "date": "2025-01-03", "progress": 0.5})
    model.apply_frame({"type": "team_holdings", "data": [
        {"ticker": "MSFT", "quantity": 15, "avg": 399.75, "currentPrice": 418.0, "marketValue": 6270.0, "weight": 0.0627},
        {"ticker": "CASH", "quantity": 93_730.0, "avg": 1.0, "currentPrice": 1.0, "marketValue": 93_730.0, "weight": 0.9373}]})
    model.apply_frame({"type": "team_trades", "data": [_trade("T1", "MSFT", "LONG", 15, 399.75, "2025-01-02"),
                                                       _trade("T2", "NVDA", "SHORT", 3, 139.9, "2025-01-03")]})
    model.apply_frame({"type": "price_update", "symbol": "NVDA", "price": 138.0, "open": 139.95, "ret": -1.39,
                 "timestamp": "2025-01-03T16:00:00-05:00",
                 "realtime_prices": {"NVDA": {"price": 138.0, "open": 139.95, "ret": -1.39}}})
    panel.flush()
    holdings = [[panel.holdings.item(r, c).text() for c in range(3)] for r in range(panel.holdings.rowCount())]
    assert holdings == [["MSFT", "15", "399.75"], ["CASH", "93,730.00", "1.00"]]
    assert panel.holdings.item(0, 5).text() == "6.3%"
    trades = [[panel.trades.item(r, c).text() for c in range(4)] for r in range(panel.trades.rowCount())]
    assert trades == [["T2", "NVDA", "SHORT", "3"]]  # only today's
    assert panel.run_label.text().startswith("Run r9: running on 2025-01-03")
    assert panel.progress.value() == 500
    assert "NVDA" in panel.ticker_bar.text() and "-1.39%" in panel.ticker_bar.text()


def test_feed_groups_conferences_and_filters(qtbot: Any) -> None:
    panel = _panel(qtbot)
    m = panel.model
    m.apply_frame({"type": "agent_message", "agentId": "technical_analyst", "content": "AAPL bull", "ts": 1_736_000_000_000,
                   "timestamp": _iso(1_736_000_000_000)})
    m.apply_frame({"type": "conference_start", "conferenceId": "c", "title": "Morning conference", "date": "d",
             "participants": [], "ts": 1_736_000_001_000})
    m.apply_frame({"type": "conference_message", "agentId": "risk_manager", "content": "too concentrated", "ts": 1})
    panel.flush()
    block = panel.feed.topLevelItem(1)
    assert block.text(2) == "conference" and block.childCount() == 1 and "in progress" in block.text(3)
    m.apply_frame({"type": "conference_message", "agentId": "technical_analyst", "content": "ok", "ts": 2})
    m.apply_frame({"type": "conference_end", "ts": 3})
    m.apply_frame({"type": "memory", "agentId": "risk_manager", "content": "lesson", "ts": 4})
    panel.flush()
    assert panel.feed.topLevelItemCount() == 3
    assert block.childCount() == 2 and "in progress" not in block.text(3) and "2 messages" in block.text(3)

    panel.agent_filter.setCurrentIndex(panel.agent_filter.findData("risk_manager"))
    shown = [panel.feed.topLevelItem(i).text(2) for i in range(panel.feed.topLevelItemCount())]
    assert shown == ["conference", "memory"]
    assert panel.feed.topLevelItem(0).childCount() == 1  # only risk_manager's message in the block
    panel.agent_filter.setCurrentIndex(0)
    panel.type_filter.setCurrentIndex(panel.type_filter.findData("agent_message"))
    assert [panel.feed.topLevelItem(i).text(3) for i in range(panel.feed.topLevelItemCount())] == ["AAPL bull"]


def test_feed_widget_is_bounded_like_the_model(qtbot: Any) -> None:
    panel = _panel(qtbot, max_feed=50)
    for i in range(500):
        panel.model.apply_frame({"type": "agent_message", "agentId": "a", "content": f"m{i}", "ts": i,
                                 "timestamp": _iso(i)})
        if i % 97 == 0:
            panel.flush()
    panel.flush()
    texts = [panel.feed.topLevelItem(i).text(3) for i in range(panel.feed.topLevelItemCount())]
    assert texts == [f"m{i}" for i in range(450, 500)]


def test_before_a_run_the_panel_invites_and_its_controls_say_why_they_are_off(qtbot: Any) -> None:
    panel = _panel(qtbot)
    panel.flush()
    assert panel.run_label.text() == "No run yet: start the local stack, or follow a run from Run history"
    for widget in (panel.pause_button, panel.resume_button, panel.pace, panel.pace_button):
        assert not widget.isEnabled() and "No run is followed yet" in widget.toolTip()
    panel.model.apply_frame({"type": "hello", "run_id": "r1", "server_mode": "backtest", "read_only": False})
    assert panel.pause_button.isEnabled()  # at once, not at the next refresh
    panel.flush()
    assert panel.run_label.text().startswith("Run r1: ")


def test_read_only_disables_run_controls_with_the_reason(qtbot: Any) -> None:
    panel = _panel(qtbot)
    panel.model.apply_frame({"type": "hello", "run_id": "r1", "server_mode": "backtest", "read_only": False})
    reason = "read-only: viewer token on 'prod'"
    panel.set_read_only(reason)
    for widget in (panel.pause_button, panel.resume_button, panel.pace, panel.pace_button):
        assert not widget.isEnabled() and widget.toolTip() == reason
    panel.set_read_only(None)
    assert panel.pause_button.isEnabled() and panel.pause_button.toolTip() != reason


def test_replay_through_the_panel_shows_the_runs_numbers(qtbot: Any, arun: Any, finished_run: Path) -> None:
    panel = _panel(qtbot)
    applied = arun(panel.replay(finished_run / "logs" / "events.jsonl", speed=0))
    panel.flush()
    state = json.loads((finished_run / "state" / "server_state.json").read_text())
    assert applied > 100
    _, ys = panel.charts.equity.curves["equity"].getData()
    assert list(ys) == [p["v"] for p in state["portfolio"]["equity"]]
    assert panel.replaying and "finished" in panel.replay_banner.text()
    assert len(panel.charts.stages.dates) == state["trading_days_total"]
    panel.stop_replay()
    panel.flush()
    assert not panel.replaying and panel.model.curves["equity"].ys == []


def test_one_costly_section_per_refresh_the_rest_catch_up(qtbot: Any) -> None:
    from app.qt.panels.live import HEAVY_SECTIONS

    panel = _panel(qtbot)
    panel.flush()
    panel.model.apply_frame({"type": "team_summary", "balance": 1.0, "pnlPct": 0.0, "equity": [{"t": 1_736_000_000_000, "v": 1.0}],
                       "baseline": [], "baseline_vw": [], "momentum": []})
    panel.model.apply_frame({"type": "price_update", "symbol": "AAPL", "price": 10, "open": 10, "ret": 0,
                       "timestamp": _iso(1_736_000_000_000)})
    panel.model.apply_frame({"type": "agent_message", "agentId": "a", "content": "x", "ts": 1, "timestamp": _iso(1)})
    panel._last_update.clear()
    panel.refresh()  # what the throttle calls
    pending = panel.model.dirty & HEAVY_SECTIONS
    assert len({"equity", "prices", "feed", "rates"} - pending) == 1  # exactly one drawn now
    assert "tickers" in panel.model.dirty  # the cheap ones wait for the next refresh (its own paint)
    assert panel.throttle._timer.isActive()  # the deferred ones are scheduled
    panel._last_update.clear()
    panel.refresh()
    assert "tickers" not in panel.model.dirty  # cheap sections wait one refresh at most
    assert len({"equity", "prices", "feed", "rates"} - panel.model.dirty) == 1  # no costly one this time
    panel.flush()
    assert panel.model.dirty == set() and panel.feed.topLevelItemCount() == 1
    assert list(panel.charts.equity.curves["equity"].getData()[1]) == [1.0]


def test_feed_tree_follows_the_model_through_any_bursts_and_filter(qtbot: Any) -> None:
    """Whatever arrives between two refreshes (none, a few, more than the model keeps), from
    whichever agents, the tree shows exactly the model's matching items, oldest first."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    panel = _panel(qtbot, max_feed=40)
    agents = ("a", "b", "c")
    counter = iter(range(10**9))

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(bursts=st.lists(st.lists(st.sampled_from(agents), max_size=90), min_size=1, max_size=6),
           shown=st.sampled_from((None, "a", "b")))
    def check(bursts: list[list[str]], shown: str | None) -> None:
        index = panel.agent_filter.findData(shown) if shown is not None else 0
        if index < 0:
            panel.agent_filter.addItem(shown, shown)
            index = panel.agent_filter.findData(shown)
        panel.agent_filter.setCurrentIndex(index)  # a filter change rebuilds the tree
        for burst in bursts:
            for agent in burst:
                n = next(counter)
                panel.model.apply_frame({"type": "agent_message", "agentId": agent, "content": f"m{n}",
                                         "ts": n, "timestamp": _iso(n)})
            panel.flush()
            tree = [(panel.feed.topLevelItem(i).text(1), panel.feed.topLevelItem(i).text(3))
                    for i in range(panel.feed.topLevelItemCount())]
            expected = [(item.agent, item.text) for item in panel.model.feed if shown is None or item.agent == shown]
            assert tree == expected

    check()


def test_chart_ranges_keep_every_point_in_view_and_move_seldom(qtbot: Any) -> None:
    """A chart's view always contains its data, whatever the data do; a steadily growing run
    moves the range only now and then (each move redraws the axes)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    panel = _panel(qtbot)
    plot = panel.charts.equity.plot

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(steps=st.lists(st.floats(-0.2, 0.2), min_size=1, max_size=300), start=st.floats(1.0, 1e6))
    def check(steps: list[float], start: float) -> None:
        from app.qt.charts import StickyRange

        sticky = StickyRange(plot)
        xs, ys = [], []
        value = start
        for day, step in enumerate(steps):
            value = max(0.01, value * (1 + step))
            xs.append(1.7e9 + 86400 * day)
            ys.append(value)
            sticky.fit((xs[0], xs[-1]), (min(ys), max(ys)))
            (x0, x1), (y0, y1) = plot.getViewBox().viewRange()
            assert x0 <= xs[0] and xs[-1] <= x1 and y0 <= min(ys) and max(ys) <= y1
        if len(steps) >= 100:
            assert sticky.moves < len(steps) / 4

    check()


def test_the_feed_is_updated_in_one_loop_turn_and_painted_in_the_next(qtbot: Any) -> None:
    """A throttled refresh holds the feed's repaint back one loop turn (its update and its paint are two
    short slices of the loop, not one long one); the new lines are there at once and painted after."""
    panel = _panel(qtbot)
    panel.show()
    panel.flush()
    for i in range(30):
        panel.model.apply_frame({"type": "agent_message", "agentId": "a", "content": f"line {i}", "ts": 1_736_000_000_000 + i,
                                 "timestamp": _iso(1_736_000_000_000 + i)})
    panel._last_update.clear()
    panel.model.dirty = {"feed"}
    panel.refresh()  # what the throttle calls
    assert panel.feed.topLevelItemCount() == 30  # updated now
    assert not panel.feed.updatesEnabled()  # its paint waits for the next loop turn
    qtbot.waitUntil(panel.feed.updatesEnabled, timeout=2000)
    assert panel.feed.topLevelItem(29).text(3) == "line 29"
    panel.flush()  # a forced refresh (tests, the end of a replay) paints as it updates
    assert panel.feed.updatesEnabled()


def test_a_chart_is_updated_in_one_loop_turn_and_painted_later(qtbot: Any) -> None:
    """A throttled refresh of the price chart holds its view's repaint back (update and paint: two short
    slices of the loop, not one long one); the new price is in the chart at once, and painted after."""
    panel = _panel(qtbot)
    panel.show()
    panel.flush()
    view = panel.charts.view_of["prices"]
    panel.model.apply_frame({"type": "price_update", "symbol": "AAPL", "price": 12.5, "open": 12, "ret": 0,
                             "timestamp": _iso(1_735_900_000_000)})
    panel._last_update.clear()
    panel.model.dirty = {"prices"}
    panel.refresh()  # what the throttle calls
    assert list(panel.charts.prices.lines["AAPL"].getData()[1]) == [12.5]  # updated now
    assert not view.updatesEnabled()  # its paint waits for later loop turns
    assert all(v.updatesEnabled() for v in panel.charts.views if v is not view)  # the other charts are untouched
    qtbot.waitUntil(view.updatesEnabled, timeout=2000)  # then painted
    panel.flush()  # a forced refresh (tests, the end of a replay) paints as it updates
    assert view.updatesEnabled()


def test_new_prices_and_trades_share_one_refresh_of_the_price_chart(qtbot: Any) -> None:
    """Both paint the price chart (its line and its trade markers): drawn together, one paint, not two."""
    panel = _panel(qtbot)
    panel.flush()
    panel.model.apply_frame({"type": "day_start", "date": "2025-01-03", "progress": 0.1})
    panel.model.apply_frame({"type": "price_update", "symbol": "AAPL", "price": 10, "open": 10, "ret": 0,
                             "timestamp": _iso(1_735_900_000_000)})
    panel.model.apply_frame({"type": "team_trades", "mode": "incremental",
                             "data": [_trade("T1", "AAPL", "LONG", 5, 10.0, "2025-01-03")]})
    panel.model.apply_frame({"type": "agent_message", "agentId": "a", "content": "x", "ts": 1, "timestamp": _iso(1)})
    # The feed was drawn longest ago, then the rate chart, then the price chart and the trades.
    panel._last_update = {"feed": 0.0, "rates": 0.5, "prices": 1.0, "trades": 1.0}
    panel._cheap_waited = False
    panel.refresh()
    drawn = {"feed", "prices", "trades"} - panel.model.dirty
    assert drawn == {"feed"}  # the one drawn longest ago, alone
    panel._last_update.pop("prices"), panel._last_update.pop("trades")
    panel._last_update["feed"] = panel._last_update["rates"] = 1e12  # not due again
    panel._cheap_waited = False
    panel.refresh()
    assert not {"prices", "trades"} & panel.model.dirty  # drawn together
    assert panel.trades.rowCount() == 1 and panel.trades.item(0, 0).text() == "T1"
