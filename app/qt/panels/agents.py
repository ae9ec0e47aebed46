"""Agents panel: the team of a run or workspace, each member's record, signals, memory, llm exchanges and files."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFontDatabase
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QListWidget, QPlainTextEdit, QPushButton, QSplitter, QTableWidgetItem,
    QTabWidget, QTextBrowser, QVBoxLayout, QWidget,
)

from app.models.agents_model import AgentRow, AgentsModel
from backend.clients.http import ServiceError
from backend.clients.services import AgentServiceClient, RuntimeServiceClient, TradingServiceClient
from app.qt.async_helpers import spawn
from app.qt.bridge import Throttle
from app.qt.observe import observe
from app.qt.panels.agent_weights import AgentWeightsChart
from app.qt.panels.base import SessionPanel
from app.qt.widgets.tables import make_table

TEAM_COLUMNS = ("Agent", "Role", "Policy", "Model", "Skills", "Rank", "Win rate", "Bull", "Bear")
SIGNAL_COLUMNS = ("Date", "Ticker", "Signal", "Correct")
RIGHT, WRONG = QColor("#3fb950"), QColor("#f85149")


def team_values(row: AgentRow) -> tuple[str, ...]:
    win = "-" if row.win_rate is None else f"{row.win_rate * 100:.0f} %"
    record = (lambda r: f"{r.win}/{r.n}" if r.n else "-")
    return (row.id, row.role.replace("_", " "), row.policy, row.model or "-", ", ".join(row.skills) or "-",
            "-" if row.rank is None else str(row.rank), win, record(row.bull), record(row.bear))


class AgentsPanel(SessionPanel):
    """The agent team of the watched run (or of a run/workspace picked in the source box)."""

    panel_id = "agents"
    title = "Agents"
    services = ("agent", "trading")
    required_role = "admin"
    follows_gateway = True

    def __init__(self, model: AgentsModel | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model or AgentsModel()
        self._updating = False
        self._file_path: str | None = None
        self._build()
        self.controls.add(self.save_file, "Save this agent file into the workspace")
        self.throttle = Throttle(self.refresh, hz=30, parent=self)
        observe(self.model.changed, self, self._on_model)
        self.refresh()

    def _build(self) -> None:
        self.source = QComboBox()
        self.source.setObjectName("agents_source")
        self.source.setMinimumContentsLength(28)
        self.source.activated.connect(self._on_source_picked)
        self.reload = QPushButton("Reload")
        self.reload.clicked.connect(lambda: spawn(self.reload_sources()))
        top = QHBoxLayout()
        top.addWidget(QLabel("Team of"))
        top.addWidget(self.source, 1)
        top.addWidget(self.reload)

        self.team = make_table(TEAM_COLUMNS, "agents_team", stretch_last=False)
        self.team.itemSelectionChanged.connect(self._on_row_selected)
        self.signals = make_table(SIGNAL_COLUMNS, "agent_signals")
        self.memory = QListWidget()
        self.memory.setObjectName("agent_memory")
        self.memory.setWordWrap(True)
        self.exchanges = QListWidget()  # an llm agent's turns: tool calls, retrieved reflections, fallbacks
        self.exchanges.setObjectName("agent_exchanges")
        self.exchanges.setWordWrap(True)
        self.profile = QTextBrowser()
        self.profile.setObjectName("agent_profile")
        self.files = QListWidget()
        self.files.setObjectName("agent_files")
        self.files.currentTextChanged.connect(lambda path: path and spawn(self.model.read_file(path)))
        self.file_text = QPlainTextEdit()
        self.file_text.setObjectName("agent_file_text")
        self.file_text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.save_file = QPushButton("Save file")
        self.save_file.clicked.connect(lambda: self._save_file())
        files_tab = QWidget()
        fbox = QHBoxLayout(files_tab)
        fbox.addWidget(self.files, 1)
        editor = QVBoxLayout()
        editor.addWidget(self.file_text, 1)
        editor.addWidget(self.save_file, 0, Qt.AlignmentFlag.AlignRight)
        fbox.addLayout(editor, 3)
        self.details = QTabWidget()
        self.details.addTab(self.signals, "Latest signals")
        self.details.addTab(self.memory, "Memory")
        self.weights_chart = AgentWeightsChart()
        self.details.addTab(self.weights_chart, "Weights")
        self.details.addTab(self.exchanges, "LLM exchanges")
        self.details.addTab(self.profile, "Profile")
        self.details.addTab(files_tab, "Files")

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.team)
        split.addWidget(self.details)
        # The whole team (six rows) in view over the details, which take what is left.
        team_height = self.team.horizontalHeader().sizeHint().height() + 6 * self.team.verticalHeader().defaultSectionSize() + 6
        split.setSizes([team_height, 2 * team_height])
        split.setStretchFactor(1, 1)
        self._lay_out(split, top)

    # -- panel API ----------------------------------------------------------------
    def read_only_reason(self) -> str | None:
        reason = super().read_only_reason()
        if reason is None and not self.model.editable:
            reason = "a run's agent files are its record: pick a workspace to edit them"
        return reason

    def _permissions_applied(self, reason: str | None) -> None:
        self.file_text.setReadOnly(reason is not None)

    def _use_profile(self) -> None:
        self.model.agent = AgentServiceClient(lambda: self.session.client("agent"))
        self.model.trading = TradingServiceClient(lambda: self.session.client("trading"))
        self.runtime = RuntimeServiceClient(lambda: self.session.client("runtime"))
        spawn(self.reload_sources())

    def _on_gateway_event(self, event: Any) -> None:
        self.model.apply_event(event, self.session.run_id)

    def _on_session_event(self, event: Any) -> None:
        if event.kind == "run" and self.session.run_id:
            spawn(self.show_source("run", self.session.run_id))

    async def reload_sources(self) -> None:
        """Fill the source box with the runtime's runs and workspaces; show the watched run's team."""
        runs: list[str] = []
        workspaces: list[str] = []
        try:
            runs = [r["run_id"] for r in await self.runtime.list_runs()]
        except ServiceError:
            pass  # the connection banner says so; workspaces may still load
        try:
            workspaces = [w["name"] for w in await self.model.agent.list_workspaces()]
        except ServiceError:
            pass
        self.set_sources(runs, workspaces)
        current = self.model.source
        if current is None:
            if self.session.run_id:
                current = ("run", self.session.run_id)
            elif runs:
                current = ("run", runs[0])
            elif workspaces:
                current = ("workspace", workspaces[0])
        if current is not None:
            await self.show_source(*current)

    def set_sources(self, runs: list[str], workspaces: list[str]) -> None:
        self.source.blockSignals(True)
        self.source.clear()
        for run_id in runs:
            self.source.addItem(f"run {run_id}", f"run:{run_id}")
        for name in workspaces:
            self.source.addItem(f"workspace {name}", f"workspace:{name}")
        self.source.blockSignals(False)
        self._show_source_choice()

    async def show_source(self, kind: str, name: str) -> None:
        if kind == "run":
            await self.model.show_run(name)
        else:
            await self.model.show_workspace(name)
        self._apply_permissions()
        if self.model.rows:  # keep the member in view across sources, with its details reloaded
            await self.model.select(self.model.selected or self.model.rows[0].id)

    def _on_source_picked(self, index: int) -> None:
        data = self.source.itemData(index)
        if data:  # "run:<id>" or "workspace:<name>" (ids and names never hold ':')
            spawn(self.show_source(*str(data).split(":", 1)))

    def _show_source_choice(self) -> None:
        if self.model.source is None:
            return
        key = ":".join(self.model.source)
        index = self.source.findData(key)
        if index < 0:
            self.source.addItem(" ".join(self.model.source), key)
            index = self.source.count() - 1
        self.source.blockSignals(True)
        self.source.setCurrentIndex(index)
        self.source.blockSignals(False)

    # -- model -> view ------------------------------------------------------------
    def _on_model(self, kind: str, payload: Any) -> None:
        if kind == "message":
            self._show_message(payload)
        elif kind == "file":
            self._file_path, text = payload
            self.file_text.setPlainText(text)
        self.throttle.mark()

    def refresh(self) -> None:
        self._show_source_choice()
        self._updating = True
        try:
            self.team.setRowCount(len(self.model.rows))
            for r, row in enumerate(self.model.rows):
                for c, value in enumerate(team_values(row)):
                    item = QTableWidgetItem(value)
                    item.setData(Qt.ItemDataRole.UserRole, row.id)
                    if c >= 5:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    self.team.setItem(r, c, item)
                if row.id == self.model.selected:
                    self.team.selectRow(r)
        finally:
            self._updating = False
        self._show_member()

    def _show_member(self) -> None:
        row = self.model.row(self.model.selected)
        signals = row.signals if row is not None else []
        self.signals.setRowCount(len(signals))
        for r, s in enumerate(signals):
            correct = s.get("is_correct")
            mark = "-" if correct is None else ("\u2713" if correct else "\u2717")
            for c, value in enumerate((s.get("date", ""), s.get("ticker", ""), s.get("signal", ""), mark)):
                item = QTableWidgetItem(str(value))
                if c == 3 and correct is not None:
                    item.setForeground(RIGHT if correct else WRONG)
                self.signals.setItem(r, c, item)
        self.memory.clear()
        for entry in reversed(self.model.memory):  # newest on top
            score = entry.get("score")
            prefix = f"[{float(score):.0%}] " if isinstance(score, (int, float)) else ""
            self.memory.addItem(prefix + str(entry.get("content", "")))
        self.weights_chart.show_entries(self.model.memory)
        self.exchanges.clear()
        self.exchanges.addItems(self.model.exchange_lines(self.model.selected))
        self.profile.setMarkdown(self._profile_markdown())
        files = self.model.files
        if [self.files.item(i).text() for i in range(self.files.count())] != files:
            self.files.blockSignals(True)
            self.files.clear()
            self.files.addItems(files)
            self.files.blockSignals(False)
            self.file_text.clear()
            self._file_path = None

    def _profile_markdown(self) -> str:
        p = self.model.profile
        if not p:
            return ""
        lines = [f"### {p.get('id') or p.get('agent_id') or self.model.selected}",
                 f"*{p.get('role', '')}* - policy **{p.get('policy', 'rules')}**"
                 + (f", model `{p['model']}`" if p.get("model") else "")]
        for skill in p.get("skills") or []:
            if isinstance(skill, dict):
                lines.append(f"- **{skill.get('name')}**: {skill.get('description', '')}")
            else:
                lines.append(f"- **{skill}**")
        if p.get("persona"):
            lines += ["", str(p["persona"])]
        return "\n".join(lines)

    # -- view -> model ------------------------------------------------------------
    def _on_row_selected(self) -> None:
        if self._updating:
            return
        rows = self.team.selectionModel().selectedRows()
        if rows:
            item = self.team.item(rows[0].row(), 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) != self.model.selected:
                spawn(self.model.select(item.data(Qt.ItemDataRole.UserRole)))

    def _save_file(self) -> None:
        if self._file_path:
            spawn(self.model.write_file(self._file_path, self.file_text.toPlainText()))
