"""The Live panel's charts as a trader reads them: a real seeded run (a Gateway subprocess's events.jsonl)
replayed through a real LiveModel and LivePanel, offscreen; the mouse moves and clicks are real Qt events."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QFontMetrics

from app.models.live_model import LiveModel
from app.qt.chart_axes import TradingDateAxis, close_s
from app.qt.chart_data import Drawdown
from app.qt.panels.live import LivePanel
from backend.market.calendar import is_trading_day

MIN_GAP_PX = 6  # the least free space between two date labels
DATE_LABEL = re.compile(r"^(?:[A-Z][a-z]{2} \d{2}|[A-Z][a-z]{2}(?: \d{4})?|\d{4})$")


@pytest.fixture
def replayed(qtbot: Any, arun: Any, finished_run: Path) -> tuple[LivePanel, dict[str, Any]]:
    """The finished run replayed through a panel laid out as on the issue's 1600x1000 screen."""
    panel = LivePanel(LiveModel())
    qtbot.addWidget(panel)
    panel.resize(1600, 900)
    panel.show()
    qtbot.waitExposed(panel)
    arun(panel.replay(finished_run / "logs" / "events.jsonl", speed=0))
    panel.flush()
    state = json.loads((finished_run / "state" / "server_state.json").read_text())
    return panel, state


def _drawn_ticks(axis: Any) -> list[tuple[float, str]]:
    """The (value, label) ticks the axis draws for its current range and size."""
    lo, hi = axis.range
    ticks = [v for _, values in axis.tickValues(lo, hi, axis.width()) for v in values]
    return list(zip(ticks, axis.tickStrings(ticks, 1.0, 1.0)))


def _no_overlap(axis: Any, ticks: list[tuple[float, str]]) -> None:
    lo, hi = axis.range
    px = axis.width() / (hi - lo)
    metrics = QFontMetrics(axis.style.get("tickFont") or axis.font())
    for (a, la), (b, lb) in zip(ticks, ticks[1:]):
        room = (b - a) * px
        need = (metrics.horizontalAdvance(la) + metrics.horizontalAdvance(lb)) / 2 + MIN_GAP_PX
        assert room >= need, f"labels {la!r} and {lb!r} overlap: {room:.0f} px apart, {need:.0f} px wide"


def _mouse_to(qtbot: Any, view: Any, plot: Any, x: float, y: float) -> None:
    scene = plot.vb.mapViewToScene(QPointF(x, y))
    qtbot.mouseMove(view.viewport(), view.mapFromScene(scene))


def test_time_axes_are_trading_dates_that_never_crowd(replayed: tuple[LivePanel, dict[str, Any]]) -> None:
    panel, state = replayed
    charts = panel.charts
    for axis in (charts.equity.dd_plot.getAxis("bottom"), charts.prices.plot.getAxis("bottom")):
        ticks = _drawn_ticks(axis)
        assert len(ticks) >= 2, ticks
        for value, label in ticks:
            assert DATE_LABEL.match(label), label  # "Jan 06", never a bare day number
            day = dt.datetime.fromtimestamp(value, dt.timezone(dt.timedelta(hours=-5))).date()
            assert is_trading_day(day) and label == day.strftime("%b %d")
        _no_overlap(axis, ticks)
    stage_ticks = _drawn_ticks(charts.stages.axis)
    run_days = [dt.date.fromisoformat(d).strftime("%b %d") for d in panel.model.stages]
    assert stage_ticks and all(label in run_days for _, label in stage_ticks)
    _no_overlap(charts.stages.axis, stage_ticks)


def test_date_labels_fit_at_any_width_and_span(qtbot: Any) -> None:
    """From one day of ticks to twenty years, from 120 px to a 1920 px screen: never two labels overlapping."""
    axis = TradingDateAxis()
    metrics = QFontMetrics(axis.font())
    for start, span_days, width in itertools.product(
            (close_s(dt.date(2024, 3, 4)), close_s(dt.date(2025, 1, 2))),  # a Monday; a Thursday after New Year
            (0.3, 2, 7, 20, 60, 250, 800, 2500, 7300), (120, 300, 683, 1366, 1920)):
        ticks = axis.tick_labels(start, start + span_days * 86400, width)
        px = width / (span_days * 86400)
        for (a, la), (b, lb) in zip(ticks, ticks[1:]):  # a visible gap between any two neighbours
            gap = (b - a) * px - (metrics.horizontalAdvance(la) + metrics.horizontalAdvance(lb)) / 2
            assert gap >= MIN_GAP_PX, (span_days, width, la, lb, gap)
        if span_days >= 2 and width >= 300:
            assert len(ticks) >= 2, (span_days, width)  # and never so few that nothing reads


def test_crosshair_reads_the_date_and_each_curve_at_the_cursor(
        qtbot: Any, replayed: tuple[LivePanel, dict[str, Any]]) -> None:
    panel, state = replayed
    chart, view = panel.charts.equity, panel.charts.views[0]
    point = state["portfolio"]["equity"][3]
    baseline = state["portfolio"]["baseline"][3]
    _mouse_to(qtbot, view, chart.plot, point["t"] / 1000.0 + 3600, point["v"])
    qtbot.waitUntil(lambda: chart.crosshair.x is not None, timeout=3000)
    day = dt.datetime.fromtimestamp(point["t"] / 1000.0, dt.timezone(dt.timedelta(hours=-5))).date()
    text = chart.crosshair.text
    assert chart.crosshair.x == point["t"] / 1000.0  # snapped to the day's point
    assert day.isoformat() in text
    assert f"{point['v']:,.2f}" in text and f"{baseline['v']:,.2f}" in text
    assert chart.crosshair.label.isVisible() and all(line.isVisible() for line in chart.crosshair.lines)

    # The price chart's crosshair: that day's prices and the team's trades of the day.
    prices, pview = panel.charts.prices, panel.charts.views[3]
    trade = state["trades"][-1]  # the oldest (newest first)
    _mouse_to(qtbot, pview, prices.plot, trade["timestamp"] / 1000.0, trade["price"])
    qtbot.waitUntil(lambda: prices.crosshair.x is not None, timeout=3000)
    side = "BUY" if trade["side"] == "LONG" else "SELL"
    assert trade["trading_date"] in prices.crosshair.text
    assert f"{side} {trade['quantity']:,} {trade['ticker']} @ {trade['price']:,.2f}" in prices.crosshair.text


def test_a_legend_click_hides_and_shows_its_curve(qtbot: Any, replayed: tuple[LivePanel, dict[str, Any]]) -> None:
    panel, _ = replayed
    chart, view = panel.charts.equity, panel.charts.views[0]
    curve = chart.curves["momentum"]
    sample, label = next((s, lab) for s, lab in chart.legend.items if lab.text == "Momentum")

    def click(item: Any) -> None:
        centre = item.mapToScene(item.boundingRect().center())
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(centre))

    day = chart.curves["equity"].getData()[0][2]
    assert curve.isVisible() and chart.crosshair.show_at(day) and "Momentum" in chart.crosshair.text
    click(sample)
    assert not curve.isVisible()
    assert chart.crosshair.show_at(day) and "Momentum" not in chart.crosshair.text  # a hidden curve is not read
    click(label)  # the name toggles as well
    assert curve.isVisible()
    # The legend is under the plots, never over a curve.
    assert chart.legend.sceneBoundingRect().top() >= chart.dd_plot.sceneBoundingRect().bottom() - 1


def test_trade_markers_are_the_runs_trades(replayed: tuple[LivePanel, dict[str, Any]]) -> None:
    panel, state = replayed
    prices = panel.charts.prices
    expected: dict[str, list[tuple[float, float, str]]] = {}
    for trade in state["trades"]:
        expected.setdefault(trade["ticker"], []).append(
            (trade["timestamp"] / 1000.0, trade["price"], "t1" if trade["side"] == "LONG" else "t"))
    assert state["trades"] and set(prices.markers) == set(expected)
    for ticker, scatter in prices.markers.items():
        points = scatter.points()
        drawn = sorted((p.pos().x(), p.pos().y(), p.symbol()) for p in points)
        assert drawn == sorted(expected[ticker]), ticker
        assert all(p.brush().color().name() == prices.color_of(ticker) for p in points)  # the ticker's colour
    assert prices.marker_count == len(state["trades"])


def test_new_trades_are_appended_to_the_markers(qtbot: Any) -> None:
    panel = LivePanel(LiveModel())
    qtbot.addWidget(panel)

    def trades(*rows: tuple[str, str, str, float, int]) -> dict[str, Any]:
        return {"type": "team_trades", "mode": "incremental", "data": [
            {"id": i, "ticker": t, "action": s.lower(), "side": s, "quantity": 5, "qty": 5, "price": p,
             "timestamp": ts, "trading_date": "2025-01-02", "notional": 5 * p} for i, t, s, p, ts in rows]}

    panel.model.apply_frame(trades(("T1", "AAPL", "LONG", 240.0, 1_735_828_200_000)))
    panel.flush()
    first = panel.charts.prices.markers["AAPL"]
    panel.model.apply_frame(trades(("T2", "AAPL", "SHORT", 245.0, 1_735_914_600_000)))
    panel.flush()
    assert panel.charts.prices.markers["AAPL"] is first  # the same item, one point more
    assert [(p.pos().y(), p.symbol()) for p in first.points()] == [(240.0, "t1"), (245.0, "t")]
    panel.model.reset()  # another run: its markers start afresh
    panel.flush()
    assert len(first.points()) == 0 and panel.charts.prices.trade_ids == set()


def test_drawdown_is_percent_from_the_running_peak_kept_incrementally(
        replayed: tuple[LivePanel, dict[str, Any]]) -> None:
    dd = Drawdown()
    xs, ys = [1.0, 2.0, 3.0], [100.0, 110.0, 99.0]
    dd.update(xs, ys)
    assert [round(v, 9) for v in dd.pcts] == [0.0, 0.0, -10.0]
    xs += [4.0, 5.0]
    ys += [121.0, 108.9]
    dd.update(xs, ys)  # only the two new points are taken in
    assert [round(v, 9) for v in dd.pcts] == [0.0, 0.0, -10.0, 0.0, -10.0] and dd.recomputes == 0
    dd.update([1.0, 2.0], [50.0, 40.0])  # another curve: computed again
    assert [round(v, 9) for v in dd.pcts] == [0.0, -20.0] and dd.recomputes == 1

    panel, state = replayed
    equity = [p["v"] for p in state["portfolio"]["equity"]]
    peaks = [max(equity[: i + 1]) for i in range(len(equity))]
    _, drawn = panel.charts.equity.dd_curve.getData()
    assert [round(v, 9) for v in drawn] == [round((v / p - 1) * 100, 9) for v, p in zip(equity, peaks)]
    assert all(v <= 0 for v in drawn)


def test_stage_scale_reads_an_approval_wait_and_a_normal_day(qtbot: Any) -> None:
    panel = LivePanel(LiveModel())
    qtbot.addWidget(panel)
    panel.resize(1366, 700)
    days = ["2025-01-02", "2025-01-03", "2025-01-06"]
    durations = {"analysis": 3.0, "risk": 1.0, "decision": 0.5, "approval": 0.01, "settlement": 0.8}
    for n, day in enumerate(days):
        for stage, ms in durations.items():
            wait = 10_000.0 if (n == 0 and stage == "approval") else ms
            panel.model.apply_frame({"type": "pipeline_stage", "run_id": "r", "date": day, "stage": stage,
                                     "status": "finished", "ts": 1, "duration_ms": wait})
    panel.show()
    qtbot.waitExposed(panel)
    panel.flush()
    chart = panel.charts.stages
    left = chart.plot.getAxis("left")
    (y0, y1) = chart.plot.vb.viewRange()[1]
    labels = [s for _, values in left.tickValues(y0, y1, left.height()) for s in left.tickStrings(values, 1, 1)]
    assert "1 ms" in labels and "10 s" in labels  # both magnitudes on one axis
    normal = sum(durations.values())
    tops = {stage: bar.opts["y0"][1] + bar.opts["height"][1] for stage, bar in chart.bars.items()
            if len(bar.opts["height"]) > 1}
    assert math.isclose(max(tops.values()), math.log10(normal))  # a normal day's bar ends at its total
    first_top = max(bar.opts["y0"][0] + bar.opts["height"][0] for bar in chart.bars.values()
                    if len(bar.opts["height"]))
    assert math.isclose(first_top, math.log10(normal - 0.01 + 10_000.0))
    assert chart.crosshair.show_at(0.1)
    assert "2025-01-02" in chart.crosshair.text and "approval wait" in chart.crosshair.text
    assert "10.0 s" in chart.crosshair.text and "3.00 ms" in chart.crosshair.text


def test_run_comparison_dates_its_axis(qtbot: Any, finished_run: Path) -> None:
    from app.models.history_model import Comparison
    from app.qt.widgets.comparison_chart import ComparisonChart

    state = json.loads((finished_run / "state" / "server_state.json").read_text())
    points = [(p["t"], p["v"]) for p in state["portfolio"]["equity"]]
    chart = ComparisonChart()
    qtbot.addWidget(chart)
    chart.resize(683, 300)  # half a 1366 px screen
    chart.show()
    qtbot.waitExposed(chart)
    chart.set_comparison(Comparison(curves={"finished": points}))
    axis = chart.plot_item.getAxis("bottom")
    qtbot.waitUntil(lambda: axis.range[0] > points[0][0] / 1000.0 - 5 * 86400, timeout=3000)  # auto-ranged on the run
    ticks = _drawn_ticks(axis)
    days = {dt.datetime.fromtimestamp(t / 1000.0, dt.timezone(dt.timedelta(hours=-5))).strftime("%b %d")
            for t, _ in points}
    assert len(ticks) >= 2 and all(label in days for _, label in ticks)  # the run's trading days, by name
    _no_overlap(axis, ticks)


def test_charts_fit_their_views_at_1366x768_and_1600x1000(qtbot: Any, arun: Any, finished_run: Path) -> None:
    """Docked as on a 1366x768 screen the legends fold away (the plots keep the room) and nothing is cut off at
    the right; on the issue's 1600x1000 screen every legend is under its plot."""
    panel = LivePanel(LiveModel())
    qtbot.addWidget(panel)
    arun(panel.replay(finished_run / "logs" / "events.jsonl", speed=0))
    panel.show()
    charts = panel.charts
    legends = (charts.equity.legend, charts.stages.legend, charts.rates.legend, charts.prices.legend)
    for size, folded in (((1000, 460), True), ((1600, 1000), False)):
        panel.resize(*size)
        qtbot.waitUntil(lambda: all(legend.folded is folded for legend in legends), timeout=3000)
        panel.flush()
        for view in charts.views:
            scene_width = view.ci.geometry().width()
            assert scene_width <= view.viewport().width() + 1, (size, scene_width, view.viewport().width())
        plot_heights = [charts.equity.plot.vb.height(), charts.stages.plot.vb.height(), charts.prices.plot.vb.height()]
        assert min(plot_heights) > 40, (size, plot_heights)
        ticks = _drawn_ticks(charts.prices.plot.getAxis("bottom"))
        assert len(ticks) >= 2
        _no_overlap(charts.prices.plot.getAxis("bottom"), ticks)


def test_the_empty_equity_chart_shows_no_crowded_values_until_its_first_point(
        qtbot: Any, replayed: tuple[LivePanel, dict[str, Any]]) -> None:
    empty = LivePanel(LiveModel())
    qtbot.addWidget(empty)
    empty.flush()
    axes = [empty.charts.equity.plot.getAxis("left"), empty.charts.equity.dd_plot.getAxis("left")]
    assert [axis.style["showValues"] for axis in axes] == [False, False]
    panel, _ = replayed
    axes = [panel.charts.equity.plot.getAxis("left"), panel.charts.equity.dd_plot.getAxis("left")]
    assert [axis.style["showValues"] for axis in axes] == [True, True]
