"""RunEngine: runs every trading day of one run and owns its files.

The engine loads ``runs/<run_id>/`` (BOOTSTRAP.md, agents), resumes from the
last completed day if the run was interrupted (no day twice, no trade lost or
doubled), runs each day through :class:`TradingPipeline`, and writes events
to ``logs/events.jsonl`` and state snapshots atomically. Which day runs when
is the :class:`backend.pipeline.day_loop.DayLoop`'s, on the mode's clock
(the backtest's by default; the Gateway passes mock and live clocks). The
headless backtest and the Gateway both drive it; listeners receive every
event in order (the Gateway broadcasts them).
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import datetime as dt
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from backend.agents.evo_agent import load_team
from backend.pipeline import state_files
from backend.pipeline.approval_gate import ApprovalGate, approve_all
from backend.pipeline.day_loop import BacktestClock, DayClock, DayLoop, OnDay, RunControl, RunStopped
from backend.pipeline.run_state import RunState
from backend.pipeline.trading_pipeline import TradingPipeline
from backend.schema import events as ev
from backend.schema.state import ServerState
from backend.storage.atomic import atomic_write_text
from backend.storage.event_log import EventLog
from backend.storage.jsonl import JsonlWriter
from backend.storage.run_store import RunStore, utc_now_iso
from backend.sandbox.executor import SkillExecutor
from backend.sandbox.factory import make_executor
from backend.signals import Signal, emit_logged

if TYPE_CHECKING:
    from backend.config import Settings

log = logging.getLogger(__name__)

CHECKPOINT_STAGES = frozenset({"execution", "settlement"})
# A headless backtest's trade journal and memories hand lines to the OS in batches of this
# many bytes, and before every snapshot.
HEADLESS_JOURNAL_BUFFER_BYTES = 1 << 16
HEADLESS_SNAPSHOT_DAYS = 10
# A headless backtest snapshots every HEADLESS_SNAPSHOT_DAYS days, or every
# HEADLESS_SNAPSHOT_SHARE of the days done so far if that is more: the state
# file holds the whole curves, so a write costs O(days done), and spacing the
# writes in proportion keeps their total cost linear in the run's length.
HEADLESS_SNAPSHOT_SHARE = 0.05
# ... and at most every HEADLESS_SNAPSHOT_MIN_S seconds, or HEADLESS_SNAPSHOT_COST_RATIO
# times what the last snapshot took to write if that is longer (a fast backtest's
# snapshots were a tenth of its time; nobody resumes it mid-second).
HEADLESS_SNAPSHOT_MIN_S = 0.5
HEADLESS_SNAPSHOT_COST_RATIO = 50.0
# The Gateway snapshots state after every stage that changes it (execution,
# settlement, the day's end) unless the last snapshot is younger than this: a
# run a human watches (paced) is snapshotted at every such stage, a run at full
# speed a few times a second. A resumed run continues from the last snapshot;
# the days after it are run again (events.jsonl then shows them twice).
SNAPSHOT_INTERVAL_S = 0.25
# ... or younger than this many times the last snapshot took to write, so that
# writing the (growing) state files takes at most ~1/SNAPSHOT_COST_RATIO of a
# long run's time, however long it gets.
SNAPSHOT_COST_RATIO = 20.0


def _settings_digest(settings: Settings) -> str | None:
    from backend.config import Settings, settings_digest

    return settings_digest(settings) if isinstance(settings, Settings) else None


__all__ = ["RunEngine", "RunStopped"]


class RunEngine:
    """One run, day by day.

    Args:
        store: where the run lives.
        run_id: the run to drive (must exist).
        settings: runtime settings (sandbox mode, exports, ...).
        executor: the skill executor (default: from the run's sandbox mode).
        gate: the approval gate (default: approve everything).
        write_every_stage: also snapshot state after execution and settlement
            (the Gateway does; the headless backtest writes once a day).

    Signals (psygnal, see :mod:`backend.signals`):
        ``event(Event)``: every event of the run, in order, once it is in
        ``events.jsonl`` (the Gateway's hub publishes it). A callback that
        raises is logged; the run carries on.
    """

    event = Signal(object)

    def __init__(self, store: RunStore, run_id: str, settings: Settings, *, executor: SkillExecutor | None = None,
                 gate: ApprovalGate = approve_all, write_every_stage: bool = True, llm: Any | None = None,
                 gateway_pid: int | None = None) -> None:
        from backend.market.factory import make_market  # the market layer pulls in numpy

        self.store = store
        self.run_id = run_id
        self.settings = settings
        self.paths = store.require(run_id)
        self.config, self.prompt = store.read_bootstrap(run_id)
        self.mode = self.config.mode
        self.market = make_market(self.config, settings)
        self.team = load_team(self.paths.agents_dir, self.config.agents)
        analysts = [{"id": a.id, "role": a.role, "model": a.spec.model or "", "provider": a.spec.provider or ""}
                    for a in self.team if a.is_analyst]
        self.state = RunState(self.config.initial_cash, self.config.margin_requirement, self.config.tickers, analysts)
        self.executor = executor or make_executor(self.config.sandbox_mode, settings, on_first_use=self._warn)
        self.write_every_stage = write_every_stage
        self.exports = bool(settings.enable_dashboard_compat_exports)
        self.gateway_pid = gateway_pid
        self.status = "starting"
        self.stage: str | None = None
        self.current_date: str | None = None
        self.control = RunControl(self.config.pace_seconds)
        self.day_clock: DayClock = BacktestClock()   # the mode's clock once a DayLoop runs the run
        self.day_clock.bind(self)
        # Oldest first: feed items (dicts) and events not yet turned into one (see feed_history).
        self._feed: collections.deque[dict[str, Any] | ev.Event] = collections.deque(maxlen=ev.FEED_HISTORY_LIMIT)
        self._last_snapshot = 0.0
        self._snapshot_gap = SNAPSHOT_INTERVAL_S  # seconds until the next Gateway snapshot is due
        self._headless_gap = HEADLESS_SNAPSHOT_MIN_S  # the same for a headless backtest
        self._snapshot_day = 0  # days completed at the last headless snapshot
        self._resume: dict[str, Any] | None = None
        self._resumed_from: str | None = None
        self.dates = self.market.trading_days(self.config.start_date, self.config.end_date)
        self._restore()
        if llm is None and any(a.policy == "llm" for a in self.team):
            from backend.agents.llm_policy import LlmPolicy

            llm = LlmPolicy(settings, run_prompt=self.prompt)
        self.log = EventLog(self.paths.events_log)
        # One open descriptor for the trade journal: a whole line appended per trade (O_APPEND).
        # A headless backtest also buffers it and the memories (a write each was ~3 % of a
        # day), flushed before every snapshot (see write_state): what a reader sees of them
        # is then as old as the state files, as the event log's buffer already was.
        buffered = 0 if write_every_stage else HEADLESS_JOURNAL_BUFFER_BYTES
        self._trades = JsonlWriter(self.paths.trades, buffer_bytes=buffered, failpoint="trades.mid_line")
        for agent in self.team:
            agent.memory.buffer_bytes = buffered
        self.pipeline = TradingPipeline(self.run_id, self.config, self.market, self.team, self.state,
                                        self.executor, self.emit, gate=gate, record_trade=self._journal_trade,
                                        control=self, llm=llm)
        self._announce_sandbox()
        self._announce_policies()

    # -- resume -----------------------------------------------------------------
    def _restore(self) -> None:
        server = self.store.load_server_state(self.run_id)
        last = None
        if server is not None and server.resume is not None:
            resume = server.resume.model_dump()
            self.state.restore(resume, self.team)
            self._resume = resume
            last = self.state.last_completed_date
            self._resumed_from = last
            for item in reversed(server.feed_history):
                self._feed.append(item)
        # Forget what an interrupted day left behind: it will be run again.
        self._truncate_trades(last)
        for agent in self.team:
            agent.memory.truncate_after(last)

    def _truncate_trades(self, last: str | None) -> None:
        rows = self.store.read_trades(self.run_id)
        kept = [r for r in rows if last is not None and r.get("trading_date", "") <= last]
        if len(kept) != len(rows) or (self.paths.trades.exists() and not rows):
            atomic_write_text(self.paths.trades, "".join(json.dumps(r) + "\n" for r in kept))

    @property
    def remaining_dates(self) -> list[dt.date]:
        """The run's days after the last completed one (``dates`` is sorted: a bisection, not a scan)."""
        last = self.state.last_completed_date
        if last is None:
            return list(self.dates)
        return self.dates[bisect.bisect_right(self.dates, dt.date.fromisoformat(last)):]

    @property
    def resumed_from(self) -> str | None:
        """The last completed day this engine resumed after (None for a fresh run)."""
        return self._resumed_from

    @property
    def days_total(self) -> int:
        return len(self.dates)

    @property
    def progress(self) -> float:
        return round(self.state.days_completed / self.days_total, 6) if self.days_total else 1.0

    # -- events -----------------------------------------------------------------
    def emit(self, event: ev.Event) -> None:
        self.log.write(event.wire_json())
        if event.type in ev.FEED_TYPES:
            self._remember_in_feed(event)
        # A broken observer must not stop the run. The hot path (every event of
        # the run, on the loop's thread, observers fixed while it runs): fast.
        emit_logged(self.event, event, logger=log, what="an event observer of the run", fast=True)

    def _remember_in_feed(self, event: ev.Event) -> None:
        # Kept as the event (its wire JSON is already encoded); turned into its
        # feed item only when a snapshot asks (feed_history), so most never are.
        self._feed.append(event)

    def _announce_sandbox(self) -> None:
        # A run that asked for less isolation than the operator's floor says so
        # (the effective mode and why are also in runtime_state.json).
        sandbox = self.executor.sandbox
        if sandbox is not None and sandbox.reason == "raised_to_floor":
            log.warning("run %s: %s", self.run_id, sandbox.note)
            self.emit(ev.System(content=f"sandbox: {sandbox.note}"))

    def _announce_policies(self) -> None:
        # The roster in BOOTSTRAP.md decides an agent's policy. An agent whose
        # AGENT.md asks for `llm` but is rostered as `rules` runs rules, and
        # says so: nothing configured as llm runs rules silently.
        for agent in self.team:
            asked = agent.profile.policy if "policy" in agent.profile.model_fields_set else None
            if asked == "llm" and agent.policy != "llm":
                self.emit(ev.System(content=f"{agent.id}: its AGENT.md asks for policy llm, but the team roster "
                                            f"in BOOTSTRAP.md says {agent.policy}; the roster decides, so it "
                                            f"runs {agent.policy}"))

    def _warn(self, message: str) -> None:
        # Called from the executor on first in-process skill use.
        self.emit(ev.System(content=message))

    @property
    def stop_requested(self) -> bool:
        return self.control.stop_requested

    def set_status(self, status: str) -> None:
        """Announce a new run status (``run_status`` event) if it changed."""
        self._set_status(status)

    def _set_status(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self.emit(ev.RunStatus(run_id=self.run_id, status=status, progress=self.progress,  # type: ignore[arg-type]
                                   current_date=self.current_date))

    def feed_history(self) -> list[dict[str, Any]]:
        """The feed, newest first, as ``initial_state.feed_history`` items (see :data:`backend.schema.state.FeedItem`).

        The feed shows what was said: the structured ``data`` behind an agent
        message stays in events.jsonl (it would triple the state file). Only
        the newest ``team_summary`` keeps its curve points (the day's: the
        incremental form); older ones keep balance and P&L.
        """
        feed = self._feed
        newest_summary = True
        items: list[dict[str, Any]] = []
        for i in range(len(feed) - 1, -1, -1):
            item = feed[i]
            if isinstance(item, ev.Event):
                item = json.loads(item.wire_json())  # as it was sent (cached when it was emitted)
                item.pop("data", None)
                feed[i] = item
            if item.get("type") == "team_summary":
                if not newest_summary and "equity" in item:
                    item = feed[i] = {k: item[k] for k in ("type", "balance", "pnlPct", "totalAssetValue") if k in item}
                newest_summary = False
            items.append(item)
        return items

    def market_status(self) -> dict[str, Any]:
        return self.day_clock.market_status()

    def snapshot_state(self) -> ServerState:
        """The state at this moment (``initial_state.state``; what ``server_state.json`` holds)."""
        return state_files.server_state(self, self.feed_history())

    def health(self) -> dict[str, Any]:
        return {"status": self.status, "run_id": self.run_id, "mode": self.mode,
                "current_date": self.current_date, "stage": self.stage, "progress": self.progress,
                "days_completed": self.state.days_completed, "days_total": self.days_total,
                "sandbox_mode": self.executor.mode, "settings_digest": _settings_digest(self.settings)}

    # -- persistence --------------------------------------------------------------
    def _journal_trade(self, row: dict[str, Any]) -> None:
        self._trades.write(json.dumps(row))

    def write_state(self, final: bool = False, day_end: bool = False) -> None:
        """Snapshot the state files (each atomically: a whole file renamed over the old).

        - Mid-day (the Gateway, after execution and settlement): server and
          runtime state, not fsynced -- the next day-end snapshot is.
        - Day end: also fsynced (the resume checkpoint), and the dashboard
          exports when the Gateway runs the day.
        - Final: everything, fsynced.
        The headless backtest snapshots now and then (see the HEADLESS_SNAPSHOT_*
        constants) and at the end; a backtest that loses power is simply run again.
        """
        exports = self.exports and (final or (day_end and self.write_every_stage))
        durable = final or (day_end and self.write_every_stage)
        started = time.monotonic()
        self._flush_journals()  # first: the snapshot's resume point never runs ahead of them
        resume = None if self._resume is None else self.state.curves_upto(self._resume)
        state_files.write_all(self, self.snapshot_state(), state_files.runtime_state(self, utc_now_iso()),
                              resume, exports, fsync=durable)
        self._last_snapshot = now = time.monotonic()
        took = now - started
        self._snapshot_gap = max(SNAPSHOT_INTERVAL_S, SNAPSHOT_COST_RATIO * took)
        self._headless_gap = max(HEADLESS_SNAPSHOT_MIN_S, HEADLESS_SNAPSHOT_COST_RATIO * took)
        self._snapshot_day = self.state.days_completed

    def _flush_journals(self) -> None:
        self._trades.flush()
        for agent in self.team:
            agent.memory.flush()

    def _gateway_snapshot_due(self) -> bool:
        """A Gateway's next snapshot: after SNAPSHOT_INTERVAL_S (or its cost's share) at full speed;
        a paced run (a human watches it; a day takes at least the pace) at every checkpoint stage
        unless the last snapshot is younger than the pace."""
        gap = self._snapshot_gap
        pace = self.control.pace
        if pace > 0:
            gap = min(gap, pace)
        return time.monotonic() - self._last_snapshot >= gap

    # -- control (called by the pipeline between stages) ----------------------------
    async def after_stage(self, stage: str) -> None:
        # Let the event loop breathe between stages: WebSocket clients, the
        # approval stream and health checks are served between stages, not
        # only between days. (A headless backtest serves nobody: it yields
        # once a day, in the day loop.)
        if self.write_every_stage:
            await asyncio.sleep(0)
        self.stage = stage
        if self.write_every_stage and stage in CHECKPOINT_STAGES and self._gateway_snapshot_due():
            self.write_state()
        control = self.control
        if control.stop_requested:
            raise RunStopped()
        if control.paused:
            self._set_status("paused")
            self.write_state()
            await control.wait_resumed()
            if control.stop_requested:
                raise RunStopped()
            self._set_status("running")

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def set_pace(self, seconds: float) -> None:
        """Seconds between trading days of a backtest (0 = as fast as possible)."""
        self.control.set_pace(seconds)

    def request_stop(self) -> None:
        """Stop after the current stage, with state flushed."""
        self.control.request_stop()

    async def start_backtest(self, dates: list[dt.date]) -> None:
        """Restrict the remaining schedule to ``dates`` (trading days of the run not yet done)."""
        if self.mode != "backtest":
            raise ValueError("start_backtest is only supported in backtest mode")
        valid = set(self.remaining_dates)
        bad = [d.isoformat() for d in dates if d not in valid]
        if bad:
            raise ValueError(f"not remaining trading days of this run: {', '.join(bad)}")
        self.dates = [d for d in self.dates if d.isoformat() <= (self.state.last_completed_date or "")] + sorted(dates)
        self.resume()

    def fast_forward(self, minutes: float) -> dict[str, Any]:
        """Move the mode's clock ahead (mock mode only; ValueError otherwise)."""
        return self.day_clock.fast_forward(minutes)

    # -- the run ------------------------------------------------------------------
    async def run(self, on_day: OnDay | None = None, clock: DayClock | None = None) -> str:
        """Run every remaining day on ``clock`` (default: the backtest's); returns the final status.

        The final status is ``completed``, ``stopped`` or ``failed``; ``on_day``
        is called after each day with (days completed, days total, date).
        """
        return await DayLoop(self, clock or self.day_clock).run(on_day)

    async def run_one_day(self, date: dt.date) -> None:
        """Run one trading day and checkpoint it (the day loop calls this when the day is due)."""
        self.current_date = date.isoformat()
        before = self.progress
        after = round((self.state.days_completed + 1) / self.days_total, 6) if self.days_total else 1.0
        work = await self.pipeline.run_day(date, before, after)
        self._complete_day(work)

    def _complete_day(self, work: Any) -> None:
        state = self.state
        state.days_completed += 1
        state.last_completed_date = work.iso
        equity = state.equity()
        state.day_history.insert(0, {"date": work.iso, "total_value": round(equity, 2),
                                     "pnl_percent": round((equity / state.initial_cash - 1) * 100, 4),
                                     "trades": len(work.trades)})
        del state.day_history[30:]
        self.stage = None
        # The Gateway snapshots a few times a second (it may be killed and
        # resumed); a headless backtest, which nobody resumes, far less often
        # (HEADLESS_SNAPSHOT_*) and at the end: the daily state snapshot was
        # most of its time. Either way a snapshot's cost grows with the run
        # (the whole curves), so they are spaced in proportion.
        self._resume = state.checkpoint(self.team, curve_lengths=True)
        if self.write_every_stage:
            due = self._gateway_snapshot_due()
        else:
            # Never after the last day: the day loop's ``finish`` writes every file right after.
            done = state.days_completed
            due = (done - self._snapshot_day >= max(HEADLESS_SNAPSHOT_DAYS, int(done * HEADLESS_SNAPSHOT_SHARE))
                   and time.monotonic() - self._last_snapshot >= self._headless_gap
                   and self.dates[-1] > work.date)
        if due:
            self.log.flush()
            self.write_state(day_end=True)

    def finish(self) -> None:
        """The run's last write: the event log fsynced, then every state file."""
        # ``_resume`` is always the checkpoint of the last *completed* day, even
        # when the run stopped in the middle of the next one.
        self.log.flush(fsync=True)
        self.write_state(final=True)

    async def close(self) -> None:
        self.log.close()
        self._trades.close()
        for agent in self.team:
            agent.memory.close()
        await self.executor.close()
        llm_close = getattr(self.pipeline.llm, "aclose", None)
        if llm_close is not None:  # the llm agents' client pool
            await llm_close()
