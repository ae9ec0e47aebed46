"""Desktop flood benchmark: the Live pipeline panel under 2,000 Gateway events/s.

A Gateway-compatible WebSocket server (a separate process, so its CPU is not
counted) greets with ``hello`` + ``initial_state`` then emits a realistic mix
of run events (prices, agent messages, stage timings, conference messages,
memories, and per "day" trades, holdings and the day's curve points, as a
Gateway sends them to a desk that asks for incremental curves) at
``--rate`` events/s for ``--duration`` seconds. The app side is the real
thing, offscreen: a ``MainWindow`` with the Live panel, its ``Session`` and
``GatewayClient``, all on one qasync loop.

Printed: event-loop stall p50/p99/max (lateness of a 5 ms asyncio heartbeat;
issue 13's target: p99 < 8 ms), and a bound on the part of it that is the
GUI thread's own work ("own work": per heartbeat, the lesser of its lateness
and the GUI thread's CPU time during that heartbeat's interval; on a machine
other processes load, the wall lateness also counts the time the OS gave
the core to them, the own-work figure does not), view refresh rate,
events received per second, CPU use of the app process, RSS at start/after
warm-up/end (target growth < 50 MB).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/desk_flood.py [--duration 60] [--rate 2000] [--slices]

``--slices`` also times every asyncio callback, every view refresh and every
garbage collection on the GUI thread, and prints the kinds of slices longer
than 4 ms (count, total, longest): where a long stall comes from.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TICKERS = ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA")
AGENTS = ("fundamentals_analyst", "technical_analyst", "sentiment_analyst", "valuation_analyst", "risk_manager",
          "portfolio_manager")
STAGES = ("analysis", "risk", "conference", "predictions", "decision", "approval", "execution", "settlement",
          "reflection")
DAY_EVENTS = 400  # events per simulated trading day


# --- the synthetic Gateway (runs in its own process) -------------------------------

def _iso(epoch_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(epoch_ms / 1000))


class EventMix:
    """Produces the event stream of a fast backtest (deterministic for a seed)."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.n = 0
        self.day = 0
        self.t0 = 1_735_822_800_000  # 2025-01-02 ms
        self.prices = {t: 100.0 + 50 * i for i, t in enumerate(TICKERS)}
        self.equity: list[dict[str, Any]] = []
        self.curves: dict[str, list[dict[str, Any]]] = {"baseline": [], "baseline_vw": [], "momentum": []}
        self.incremental = False  # the client asked for incremental curves (the desk does)

    def date(self) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(self.t0 / 1000 + self.day * 86400))

    def next(self) -> dict[str, Any]:
        self.n += 1
        slot = self.n % DAY_EVENTS
        ts = self.t0 + self.day * 86_400_000 + slot * 1000
        if slot == 0:
            self.day += 1
            return {"type": "day_start", "date": self.date(), "progress": min(1.0, self.day / 1000)}
        if slot == DAY_EVENTS - 1:
            return self._settlement(ts)
        if slot == DAY_EVENTS // 2:
            return {"type": "team_trades", "mode": "incremental", "data": [
                {"id": f"T{self.day}-{i}", "ticker": t, "action": "long", "side": "LONG", "quantity": 10 + i,
                 "qty": 10 + i, "price": self.prices[t], "timestamp": ts, "trading_date": self.date(),
                 "notional": (10 + i) * self.prices[t]}
                for i, t in enumerate(TICKERS[:3])]}
        if slot == DAY_EVENTS // 2 + 1:
            return {"type": "team_holdings", "data": [
                {"ticker": t, "quantity": 10 * (i + 1), "avg": self.prices[t], "currentPrice": self.prices[t],
                 "marketValue": 10 * (i + 1) * self.prices[t], "weight": 0.05} for i, t in enumerate(TICKERS)]}
        r = self.rng.random()
        if r < 0.5:
            ticker = self.rng.choice(TICKERS)
            self.prices[ticker] *= 1 + self.rng.gauss(0, 0.002)
            price = round(self.prices[ticker], 2)
            return {"type": "price_update", "symbol": ticker, "price": price, "open": price, "ret": 0.1,
                    "timestamp": _iso(ts), "realtime_prices": {ticker: {"price": price, "open": price, "ret": 0.1}}}
        if r < 0.65:
            agent = self.rng.choice(AGENTS)
            return {"type": "agent_message", "agentId": agent, "ts": ts, "timestamp": str(ts),
                    "content": f"{self.rng.choice(TICKERS)} bull ({self.rng.randint(20, 99)}): momentum and margins"}
        if r < 0.8:
            stage = STAGES[self.n % len(STAGES)]
            return {"type": "pipeline_stage", "run_id": "flood", "date": self.date(), "stage": stage,
                    "status": "finished", "ts": ts, "duration_ms": self.rng.uniform(0.5, 40)}
        if r < 0.9:
            return {"type": "conference_message", "agentId": self.rng.choice(AGENTS), "ts": ts,
                    "content": "Revising after hearing the team: NVDA bull->neutral"}
        if r < 0.95:
            return {"type": "memory", "agentId": self.rng.choice(AGENTS), "ts": ts, "content": "lesson of the day"}
        if r >= 0.975:
            return {"type": "conference_end", "conferenceId": f"c{self.day}", "ts": ts}
        return {"type": "conference_start", "conferenceId": f"c{self.day}", "title": f"Conference {self.date()}",
                "date": self.date(), "participants": list(AGENTS[:4]), "ts": ts}

    def _settlement(self, ts: int) -> dict[str, Any]:
        value = 100_000 + 500 * self.rng.gauss(0, 1) + 10 * self.day
        self.equity.append({"t": ts, "v": round(value, 2)})
        for name in self.curves:
            self.curves[name].append({"t": ts, "v": round(100_000 + 8 * self.day + self.rng.gauss(0, 200), 2)})
        if self.incremental:  # as a Gateway answers a desk that asked for ?curves=incremental: the day's points
            index = len(self.equity) - 1
            return {"type": "team_summary", "balance": value, "pnlPct": 0.1, "equity": self.equity[index:],
                    **{name: curve[index:] for name, curve in self.curves.items()}, "totalAssetValue": value,
                    "append": True, "index": index}
        return {"type": "team_summary", "balance": value, "pnlPct": 0.1, "equity": self.equity,
                **self.curves, "totalAssetValue": value}


async def serve(rate: int, duration: float) -> None:
    from websockets.asyncio.server import serve as ws_serve

    mix = EventMix()
    done = asyncio.Event()

    async def handler(ws: Any) -> None:
        mix.incremental = "curves=incremental" in (ws.request.path if ws.request is not None else "")
        await ws.send(json.dumps({"type": "hello", "protocol_version": "1.0", "run_id": "flood",
                                  "server_mode": "backtest", "read_only": False, "role": "admin",
                                  "curves": "incremental" if mix.incremental else "bounded"}))
        await ws.send(json.dumps({"type": "initial_state", "state": {
            "run_id": "flood", "status": "running", "current_date": "2025-01-02", "trading_days_total": 1000,
            "trading_days_completed": 0, "holdings": [], "trades": [], "realtime_prices": {},
            "feed_history": []}}))

        async def read() -> None:  # answer pings like a Gateway
            async for message in ws:
                if json.loads(message).get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong", "timestamp": "now"}))

        reader = asyncio.create_task(read())
        tick = 0.01
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0.0
        while loop.time() - start < duration:
            target = (loop.time() - start) * rate
            while sent < target:
                await ws.send(json.dumps(mix.next()))
                sent += 1
            await asyncio.sleep(tick - ((loop.time() - start) % tick))
        await ws.send(json.dumps({"type": "system", "content": "flood done"}))
        reader.cancel()
        done.set()

    async with ws_serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await done.wait()
        await asyncio.sleep(1.0)


# --- the app side --------------------------------------------------------------------

class SliceLog:
    """Times the GUI thread's slices: asyncio callbacks, view refreshes, garbage collections (``--slices``)."""

    def __init__(self, threshold_ms: float = 4.0) -> None:
        self.threshold = threshold_ms / 1000
        self.slow: dict[str, list[float]] = {}
        self.counts: dict[str, int] = {}
        self.cpu: dict[str, float] = {}
        self._gc_start = (0.0, 0.0)
        self.recording = False
        self.timeline: list[tuple[float, float, str]] = []  # (start, seconds, kind) of slices >= 1 ms
        self.late: list[tuple[float, float]] = []  # (due, lateness) of heartbeats late by 8 ms or more

    def culprits(self) -> list[str]:
        """For each heartbeat late by >= 8 ms: the slices of >= 1 ms that ran while it was due, as one combination."""
        combos: dict[str, int] = {}
        self.timeline.sort()
        starts = [t for t, _, _ in self.timeline]
        import bisect

        for due, late in self.late:
            i = bisect.bisect_left(starts, due - 0.1)
            kinds = [what.strip() for t, d, what in self.timeline[i:] if t < due + late and t + d > due - 0.002]
            key = " + ".join(sorted(set(kinds))) or "(no slice timed: other processes, or untimed Qt work)"
            combos[key] = combos.get(key, 0) + 1
        lines = [f"  heartbeats late >= 8 ms: {len(self.late)}; what ran while they were due:"]
        for key, n in sorted(combos.items(), key=lambda kv: -kv[1])[:12]:
            lines.append(f"    {n:5d}  {key}")
        return lines

    def note(self, what: str, seconds: float, cpu: float) -> None:
        """A slice of ``seconds`` wall time and ``cpu`` GUI-thread CPU time (a nested one counts in its outer one too)."""
        if self.recording and seconds >= 0.001:
            self.timeline.append((time.perf_counter() - seconds, seconds, what))
        self.cpu[what] = self.cpu.get(what, 0.0) + cpu
        self.counts[what] = self.counts.get(what, 0) + 1
        if seconds >= self.threshold:
            self.slow.setdefault(what, []).append(seconds)

    def install(self, panel: Any, window: Any) -> None:
        import gc

        from PySide6.QtCore import QEvent, QObject

        from asyncio import events

        log = self
        run = events.Handle._run

        def timed_run(handle: Any) -> None:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                run(handle)
            finally:
                log.note(_handle_name(handle), time.perf_counter() - t0, time.thread_time() - c0)

        events.Handle._run = timed_run  # type: ignore[method-assign]
        refresh = panel.throttle._refresh

        def timed_refresh() -> None:
            dirty = set(panel.model.dirty)
            t0, c0 = time.perf_counter(), time.thread_time()
            refresh()
            drawn = ",".join(sorted(dirty - panel.model.dirty)) or "nothing"
            log.note(f"refresh [{drawn}]", time.perf_counter() - t0, time.thread_time() - c0)

        panel.throttle._refresh = timed_refresh

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                log._gc_start = (time.perf_counter(), time.thread_time())
            else:
                log.note(f"gc generation {info['generation']}", time.perf_counter() - log._gc_start[0],
                         time.thread_time() - log._gc_start[1])

        gc.callbacks.append(on_gc)

        class PaintTimer(QObject):
            """The window's repaint (every dirty widget painted into the backing store), and each widget's share:
            widgets are painted one after another, so a widget's share is the time to the next one's paint."""

            current: tuple[str, float, float] | None = None

            def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802
                kind = event.type()
                if kind == QEvent.Type.Paint:
                    self._close()
                    self.current = (_widget_name(obj), time.perf_counter(), time.thread_time())
                    return False
                if kind != QEvent.Type.UpdateRequest or obj is not window:
                    return False
                t0, c0 = time.perf_counter(), time.thread_time()
                self.current = None
                handled = type(obj).event(obj, event)
                self._close()
                log.note("window repaint", time.perf_counter() - t0, time.thread_time() - c0)
                return bool(handled)

            def _close(self) -> None:
                if self.current is not None:
                    name, t0, c0 = self.current
                    log.note(f"  paint {name}", time.perf_counter() - t0, time.thread_time() - c0)
                self.current = None

        from PySide6.QtWidgets import QWidget

        self._paint_timer = PaintTimer()
        window.installEventFilter(self._paint_timer)
        for widget in window.findChildren(QWidget):
            widget.installEventFilter(self._paint_timer)

    def report(self) -> list[str]:
        rows = sorted(self.slow.items(), key=lambda kv: -sum(kv[1]))
        lines = [f"  slices >= {self.threshold * 1000:.0f} ms (kind: slow/all, their wall total, longest, "
                 "CPU of all of its kind; a nested slice counts in its outer one too):"]
        for what, times in rows[:25]:
            lines.append(f"    {len(times):5d}/{self.counts[what]:<7d} {1000 * sum(times):8.1f} ms "
                         f"{1000 * max(times):6.1f} ms {1000 * self.cpu.get(what, 0.0):8.1f} ms  {what}")
        return lines


def _widget_name(widget: Any) -> str:
    names = []
    while widget is not None and len(names) < 3:
        names.append(widget.objectName() or type(widget).__name__)
        widget = widget.parentWidget()
    return "/".join(reversed(names))


def _handle_name(handle: Any) -> str:
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        return f"task {getattr(coro, '__qualname__', coro)}"
    return getattr(callback, "__qualname__", repr(callback))


async def measure(url: str, duration: float, warmup: float, slices: SliceLog | None = None,
                  freeze: bool = True) -> dict[str, Any]:
    import psutil

    from app.models.settings_store import AppSettings, MemorySettings
    from app.qt.main_window import MainWindow
    from app.qt.panels.live import LivePanel
    from app.session import Session

    from app.qt import gc_policy

    me = psutil.Process()
    rss_start = me.memory_info().rss
    gc_policy.collect_on_gui_thread()  # as app.main runs the desk: collections on a GUI-thread timer
    session = Session(health_interval=3600)
    window = MainWindow(session, AppSettings(MemorySettings()), panel_classes=[LivePanel])
    window.resize(1600, 1000)
    window.show()
    panel = window.panel("live")
    if slices is not None:
        slices.install(panel, window)
    done = asyncio.Event()
    session.gateway_event.connect(lambda e: e.type == "system" and e.content == "flood done" and done.set())
    client = session.watch_gateway(url)
    await client.wait_connected(10)
    if freeze:
        gc_policy.freeze_startup_objects()  # as app.main does once the window is up

    lateness: list[float] = []
    own: list[float] = []  # min(lateness, GUI-thread CPU time in the interval): a bound on self-inflicted lateness
    stop = False

    async def heartbeat() -> None:
        period = 0.005
        while not stop:
            t0, c0 = time.perf_counter(), time.thread_time()
            await asyncio.sleep(period)
            late = time.perf_counter() - t0 - period
            lateness.append(late)
            if slices is not None and slices.recording and late >= 0.008:
                slices.late.append((t0 + period, late))
            own.append(max(0.0, min(late, time.thread_time() - c0)))

    beat = asyncio.get_running_loop().create_task(heartbeat())
    await asyncio.sleep(warmup)
    lateness.clear()
    own.clear()
    if slices is not None:
        slices.recording = True
    rss_warm = me.memory_info().rss
    cpu0, wall0 = me.cpu_times(), time.perf_counter()
    received0, refresh0 = client.received, panel.throttle.refreshes
    try:
        await asyncio.wait_for(done.wait(), duration + 30)
    except TimeoutError:
        pass
    wall = time.perf_counter() - wall0
    cpu1 = me.cpu_times()
    stop = True
    await beat
    result = {
        "seconds": wall,
        "events_per_s": (client.received - received0) / wall,
        "refresh_hz": (panel.throttle.refreshes - refresh0) / wall,
        "cpu_pct": 100 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / wall,
        "stall_ms": sorted(x * 1000 for x in lateness),
        "own_stall_ms": sorted(x * 1000 for x in own),
        "rss_start_mb": rss_start / 2**20, "rss_warm_mb": rss_warm / 2**20, "rss_end_mb": me.memory_info().rss / 2**20,
        "model_points": len(panel.model.curves["equity"]), "feed_items": len(panel.model.feed),
        "applied": panel.model.applied,
        "refused": client.refused,  # frames the desk's parser could not read (the mix is valid: 0)
    }
    await window.shutdown()
    window.hide()
    return result


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of flood (default 60)")
    parser.add_argument("--rate", type=int, default=2000, help="events per second (default 2000)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--slices", action="store_true", help="time the GUI thread's slices, print the long ones")
    parser.add_argument("--no-freeze", action="store_true", help="skip gc.freeze of the startup objects")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.rate, args.duration))
        return 0

    load_before = os.getloadavg()[0]  # other work on the machine shows up as stalls: print it with the figures
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--rate", str(args.rate), "--duration",
                               str(args.duration + args.warmup)], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    port = int(server.stdout.readline())
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync
    from PySide6.QtWidgets import QApplication

    from app.qt import gc_policy

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    slices = SliceLog() if args.slices else None
    try:
        r = loop.run_until_complete(measure(f"ws://127.0.0.1:{port}/", args.duration, args.warmup, slices,
                                            freeze=not args.no_freeze))
    finally:
        server.kill()
        server.wait()
        loop.close()  # while the QApplication exists
        gc_policy.restore_automatic_collection()
    stalls = r["stall_ms"]
    print(f"desk flood: {args.rate} events/s offered for {args.duration:g}s (+{args.warmup:g}s warm-up), "
          f"Live panel in a {app.platformName()} window, {os.cpu_count()} CPUs, load average "
          f"{load_before:.2f} -> {os.getloadavg()[0]:.2f}")
    print(f"  events received     {r['events_per_s']:8.0f} /s   (applied {r['applied']:,}, refused {r['refused']:,})")
    print(f"  loop stall          p50 {pct(stalls, 0.5):5.2f} ms  p99 {pct(stalls, 0.99):5.2f} ms  "
          f"max {max(stalls) if stalls else float('nan'):6.2f} ms   (target p99 < 8 ms)")
    own = r["own_stall_ms"]
    print(f"  own-work stall      p50 {pct(own, 0.5):5.2f} ms  p99 {pct(own, 0.99):5.2f} ms  "
          f"max {max(own) if own else float('nan'):6.2f} ms   (at most the GUI thread's CPU time)")
    print(f"  view refresh        {r['refresh_hz']:8.1f} Hz  (cap 30)")
    print(f"  CPU (app process)   {r['cpu_pct']:8.1f} %   of one core")
    print(f"  RSS                 start {r['rss_start_mb']:.0f} MB, after warm-up {r['rss_warm_mb']:.0f} MB, "
          f"end {r['rss_end_mb']:.0f} MB, growth {r['rss_end_mb'] - r['rss_warm_mb']:+.1f} MB (target < 50 MB)")
    print(f"  bounded model       {r['model_points']} equity points, {r['feed_items']} feed items")
    if slices is not None:
        print("\n".join(slices.report()))
        print("\n".join(slices.culprits()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
