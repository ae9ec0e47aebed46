"""The Agents panel's "Weights" tab: an agent's adaptive state over time.

Every reflection an agent writes (``memory.jsonl``, served by agent_service)
carries what it had learnt that day: an analyst's feature ``weights``, the
portfolio manager's ``trust`` in each analyst. This chart draws one line per
feature (or analyst) against the reflection's date. A frozen run
(``evolution: frozen``) records empty weights, which the caption says; the
live ``memory`` events carry no weights, so the chart follows the reflections
the model loaded for the selected agent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.qt import theme

DEFAULT_VALUE = {"weights": 1.0, "trust": 0.5}   # what an absent entry means (backend/agents/rules)
TITLES = {"weights": "Feature weights", "trust": "Trust in each analyst"}


def state_series(entries: list[dict[str, Any]]) -> tuple[str | None, list[float], dict[str, list[float]]]:
    """(``"weights"``/``"trust"``/None, x = dates as epoch seconds, name -> values) from reflections.

    Entries without that key (live memory events) are skipped; a name missing
    on a day takes the rule's default value (1.0 weight, 0.5 trust).
    """
    kind = next((k for k in ("weights", "trust") for e in entries if isinstance(e.get(k), dict)), None)
    if kind is None:
        return None, [], {}
    rows = []
    for entry in entries:
        state, date = entry.get(kind), entry.get("date")
        if not isinstance(state, dict) or not isinstance(date, str):
            continue
        try:
            day = dt.datetime.fromisoformat(date[:10]).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            continue
        rows.append((day.timestamp(), state))
    rows.sort(key=lambda r: r[0])
    names = sorted({n for _, state in rows for n in state})
    default = DEFAULT_VALUE[kind]
    series = {n: [float(state.get(n, default)) for _, state in rows] for n in names}
    return kind, [x for x, _ in rows], series


class AgentWeightsChart(QWidget):
    """One line per weight (or trust) of the selected agent, over its reflections."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("agent_weights")
        self.caption = QLabel()
        self.caption.setObjectName("agent_weights_caption")
        self.caption.setWordWrap(True)
        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.plot.setBackground(theme.chart_colors()["background"])
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMenuEnabled(False)
        self.legend = self.plot.addLegend(offset=(5, 5), labelTextSize="8pt")
        self.curves: dict[str, Any] = {}
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.caption)
        box.addWidget(self.plot, 1)
        self.show_entries([])

    def show_entries(self, entries: list[dict[str, Any]]) -> None:
        kind, xs, series = state_series(entries)
        if set(series) != set(self.curves):
            self.plot.clear()
            self.legend.clear()
            self.curves = {name: self.plot.plot([], [], name=name,
                                                pen=pg.mkPen(theme.SERIES[i % len(theme.SERIES)]))
                           for i, name in enumerate(sorted(series))}
        for name, curve in self.curves.items():
            curve.setData(xs, series[name])
        if kind is None:
            self.caption.setText("No learnt weights recorded for this agent (only analysts and the "
                                 "portfolio manager adapt).")
        elif not series:
            self.caption.setText(f"{TITLES[kind]}: none moved over {len(xs)} reflection(s) "
                                 "(a frozen run keeps its day-0 team).")
        else:
            last = ", ".join(f"{n} {v[-1]:.2f}" for n, v in series.items())
            self.caption.setText(f"{TITLES[kind]} over {len(xs)} reflection(s); latest: {last}")
