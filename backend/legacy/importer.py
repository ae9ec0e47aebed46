"""Import run folders of the earlier EvoTraders layout into ``runs/<run_id>/``.

A legacy run folder (a root-level ``live/``, ``production/``, ``backtest/``
or ``<config_name>/``) holds::

    team_dashboard/summary.json       balance, pnlPct, totalAssetValue, cash, equity/baseline/... curves
    team_dashboard/holdings.json      rows ticker/quantity/avg/currentPrice/marketValue/weight
    team_dashboard/stats.json         totalAssetValue, totalReturn, cashPosition, winRate, ...
    team_dashboard/trades.json        trade rows (newest first)
    team_dashboard/leaderboard.json   analyst rows
    team_dashboard/_internal_state.json
    state/server_state.json           the server state, with feed_history

Each is mapped onto this project's run layout (``backend.storage.run_store``):
BOOTSTRAP.md (front matter guessed from the files), ``state/server_state.json``
(a :class:`ServerStateFile`), ``state/trades.jsonl`` (oldest first),
``state/runtime_state.json`` (status ``completed``, ``imported`` true),
``logs/events.jsonl`` (``feed_history`` oldest first, only events the desk's
strict parser accepts, so the feed replays) and ``team_dashboard/*.json``
(copies of the source's). ``state/legacy_import.json`` records the source.

Rules: the source is only read; the run id is derived from the source's
resolved path and its files' content, so importing the same folder again
finds the run and does nothing; a file that is not JSON or not of the
expected shape is reported by name and left out, the rest is imported; the
run is assembled in a staging folder inside ``runs/`` (every file written
atomically) and renamed into place, so nothing outside ``runs/`` is written
and a failed import leaves nothing half-written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from backend.schema import events as ev
from backend.schema.bootstrap import TICKER_RE, BootstrapConfig
from backend.schema.state import (CURVE_NAMES, DashboardSummary, HoldingRow, LeaderboardRow, ServerStateFile,
                                  TeamStats, TradeRow)
from backend.schema.trading import Trade
from backend.storage.atomic import atomic_write_json, atomic_write_text
from backend.storage.bootstrap_file import render_bootstrap
from backend.storage.ids import validate_run_id
from backend.trading import metrics

DASHBOARD_FILES = ("summary", "holdings", "stats", "trades", "leaderboard")
INTERNAL_FILE = "team_dashboard/_internal_state.json"
SERVER_STATE_FILE = "state/server_state.json"
SOURCE_FILES = tuple(f"team_dashboard/{name}.json" for name in DASHBOARD_FILES) + (INTERNAL_FILE, SERVER_STATE_FILE)
MARKER = "state/legacy_import.json"
MODE_BY_FOLDER = {"live": "live", "production": "live", "backtest": "backtest"}
NY = dt.timezone(dt.timedelta(hours=-5))  # dates of epoch-ms stamps (the day's close, New York)

_HOLDINGS = TypeAdapter(list[HoldingRow])
_LEADERBOARD = TypeAdapter(list[LeaderboardRow])


class LegacyImportError(ValueError):
    """The path holds no legacy run folder; the message says what was looked for."""


@dataclass
class RunImport:
    """The outcome of importing one legacy run folder."""

    source: Path
    run_id: str
    imported: bool  # False: this folder was imported before (a no-op)
    problems: list[str] = field(default_factory=list)  # "<file>: <what is wrong>", one per file left out
    files: list[str] = field(default_factory=list)     # the source files used
    trades: int = 0
    feed_events: int = 0
    feed_skipped: int = 0


def is_legacy_run(folder: Path) -> bool:
    """A folder holding a legacy file and no BOOTSTRAP.md (a run of this project is not imported again)."""
    return (folder.is_dir() and not (folder / "BOOTSTRAP.md").exists()
            and any((folder / name).is_file() for name in SOURCE_FILES))


def find_legacy_runs(path: Path) -> list[Path]:
    """The legacy run folders at ``path``: the folder itself, or its subfolders (live/, backtest/, <config>/)."""
    path = Path(path)
    if not path.is_dir():
        raise LegacyImportError(f"{path}: no such folder")
    if is_legacy_run(path):
        return [path]
    found = sorted(child for child in path.iterdir() if not child.name.startswith(".") and is_legacy_run(child))
    if not found:
        raise LegacyImportError(f"{path}: no legacy EvoTraders run folder (one holding team_dashboard/*.json "
                                f"or state/server_state.json), neither here nor in a subfolder")
    return found


def legacy_run_id(folder: Path) -> str:
    """A stable id: the folder's name and a digest of its resolved path and its files' content."""
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for name in SOURCE_FILES:
        file = folder / name
        if file.is_file():
            digest.update(name.encode() + b"\0" + hashlib.sha256(file.read_bytes()).digest())
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", folder.resolve().name).strip("-_")[:40] or "run"
    return validate_run_id(f"legacy-{slug}-{digest.hexdigest()[:12]}")


# -- reading the source ---------------------------------------------------------------------------------------

def _problem(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"unexpected shape ({where}: {first['msg']})"


def _load(folder: Path, name: str, problems: list[str]) -> Any:
    """The parsed JSON of ``folder/name`` (None when absent or malformed; malformed is recorded)."""
    file = folder / name
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        problems.append(f"{name}: not JSON ({err})")
        return None


def _rows(data: Any, name: str, problems: list[str]) -> list[Any] | None:
    if isinstance(data, dict):  # some exports wrap rows: {"data": [...]} / {"items": [...]}
        data = next((data[k] for k in ("data", "items", "rows") if isinstance(data.get(k), list)), data)
    if not isinstance(data, list):
        problems.append(f"{name}: expected a list of rows, got {type(data).__name__}")
        return None
    return data


def _epoch_ms(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value if value > 1e11 else value * 1000)
    if isinstance(value, str):
        try:
            stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=NY)
        return int(stamp.timestamp() * 1000)
    return None


def _trade(row: Any) -> Trade:
    """A legacy trade row as a :class:`Trade` (side/action, qty/quantity, notional, date filled in)."""
    if not isinstance(row, dict):
        raise ValueError(f"a trade row must be an object, got {type(row).__name__}")
    data = dict(row)
    side = str(data.get("side") or data.get("action") or "").upper()
    side = {"BUY": "LONG", "SELL": "SHORT"}.get(side, side)
    qty = data.get("qty", data.get("quantity"))
    ts = _epoch_ms(data.get("timestamp", data.get("ts")))
    date = data.get("trading_date") or data.get("date")
    if date is None and ts is not None:
        date = dt.datetime.fromtimestamp(ts / 1000, NY).date().isoformat()
    if ts is None and isinstance(date, str):
        ts = _epoch_ms(f"{date}T09:30:00")
    price = data.get("price")
    data.update(side=side, action=side.lower(), qty=qty, quantity=qty, timestamp=ts, trading_date=date)
    if "notional" not in data and isinstance(qty, (int, float)) and isinstance(price, (int, float)):
        data["notional"] = round(abs(qty) * price, 2)
    return Trade.model_validate(data)


def _trades(data: Any, name: str, problems: list[str]) -> list[Trade] | None:
    rows = _rows(data, name, problems)
    if rows is None:
        return None
    out = []
    for i, row in enumerate(rows):
        try:
            out.append(_trade(row))
        except ValidationError as err:
            problems.append(f"{name}: row {i}: {_problem(err)}")
            return None
        except ValueError as err:
            problems.append(f"{name}: row {i}: {err}")
            return None
    return sorted(out, key=lambda t: (t.timestamp, t.id))  # legacy files are newest first


def _curve(points: Any) -> list[dict[str, Any]] | None:
    if not isinstance(points, list):
        return None
    out = []
    for p in points:
        if not isinstance(p, dict) or not isinstance(p.get("v"), (int, float)):
            return None
        t = _epoch_ms(p.get("t"))
        if t is None:
            return None
        out.append({"t": t, "v": float(p["v"])})
    return out


@dataclass
class _Parts:
    state: dict[str, Any]
    internal: dict[str, Any] | None
    copies: dict[str, Any]


def _read(folder: Path, problems: list[str], files: list[str]) -> tuple[_Parts, list[Trade]]:
    state: dict[str, Any] = {}
    raw = _load(folder, SERVER_STATE_FILE, problems)
    if raw is not None:
        if not isinstance(raw, dict):
            problems.append(f"{SERVER_STATE_FILE}: expected an object, got {type(raw).__name__}")
        else:
            raw = {k: v for k, v in raw.items() if k != "resume"}  # a legacy checkpoint cannot resume here
            if "trades" in raw:  # legacy rows: side and qty only; this project's rows: every Trade field
                rows = raw.pop("trades")
                try:
                    if not isinstance(rows, list):
                        raise ValueError(f"expected a list of rows, got {type(rows).__name__}")
                    raw["trades"] = [_trade(row).model_dump(mode="json", exclude_none=True) for row in rows]
                except (ValidationError, ValueError) as err:
                    detail = _problem(err) if isinstance(err, ValidationError) else str(err)
                    problems.append(f"{SERVER_STATE_FILE}: trades left out: {detail}")
            try:
                ServerStateFile.model_validate(raw)
                state = raw
                files.append(SERVER_STATE_FILE)
            except ValidationError as err:
                problems.append(f"{SERVER_STATE_FILE}: {_problem(err)}")
    copies: dict[str, Any] = {}
    trades: list[Trade] | None = None
    for part in DASHBOARD_FILES:
        name = f"team_dashboard/{part}.json"
        data = _load(folder, name, problems)
        if data is None:
            continue
        ok = True
        try:
            if part == "summary":
                ok = _summary(data, name, state, problems)
            elif part == "holdings":
                rows = _rows(data, name, problems)
                ok = rows is not None
                if ok:
                    state["holdings"] = _HOLDINGS.dump_python(_HOLDINGS.validate_python(rows), mode="json")
            elif part == "stats":
                stats = data.get("data", data) if isinstance(data, dict) else data
                state["stats"] = TeamStats.model_validate(stats).to_wire()
            elif part == "trades":
                trades = _trades(data, name, problems)
                ok = trades is not None
            elif part == "leaderboard":
                rows = _rows(data, name, problems)
                ok = rows is not None
                if ok:
                    state["leaderboard"] = _LEADERBOARD.dump_python(_LEADERBOARD.validate_python(rows), mode="json")
        except ValidationError as err:
            problems.append(f"{name}: {_problem(err)}")
            ok = False
        if ok:
            copies[name] = data
            files.append(name)
    internal = _load(folder, INTERNAL_FILE, problems)
    if internal is not None and not isinstance(internal, dict):
        problems.append(f"{INTERNAL_FILE}: expected an object, got {type(internal).__name__}")
        internal = None
    if internal is not None:
        copies[INTERNAL_FILE] = internal
        files.append(INTERNAL_FILE)
    if trades is None:  # no trades.json: the state's (newest 100) trades
        try:
            trades = sorted((Trade.model_validate(t) for t in state.get("trades", [])), key=lambda t: t.timestamp)
        except ValidationError:
            trades = []
    state["trades"] = [TradeRow.model_validate(t.model_dump(exclude_none=True)).to_wire()
                       for t in reversed(trades[-100:])]
    return _Parts(state, internal, copies), trades


def _summary(data: Any, name: str, state: dict[str, Any], problems: list[str]) -> bool:
    if not isinstance(data, dict):
        problems.append(f"{name}: expected an object, got {type(data).__name__}")
        return False
    total = data.get("totalAssetValue", data.get("balance"))
    cash = data.get("cash", data.get("cashPosition", total))
    pnl = data.get("pnlPct", data.get("pnl_percent", 0.0))
    summary = DashboardSummary.model_validate({"totalAssetValue": total, "pnlPct": pnl,
                                               "balance": data.get("balance", total), "cash": cash})
    curves: dict[str, Any] = {}
    for curve in CURVE_NAMES:
        if curve in data:
            points = _curve(data[curve])
            if points is None:
                problems.append(f"{name}: curve {curve!r} is not a list of {{t, v}} points")
                return False
            curves[curve] = points
    state["dashboard"] = {"summary": summary.to_wire()}
    if curves or "portfolio" not in state:
        port = dict(state.get("portfolio") or {})
        port.update(curves, total_value=summary.totalAssetValue, pnl_percent=summary.pnlPct)
        state["portfolio"] = port
    return True


# -- building the run -----------------------------------------------------------------------------------------

def _closing_events(state: dict[str, Any], trades: list[Trade]) -> list[dict[str, Any]]:
    """The run's final figures as the events a replay applies last: curves, holdings, stats, trades, leaderboard."""
    out: list[dict[str, Any]] = []
    port = state.get("portfolio")
    if port:
        out.append({"type": "team_summary", "balance": port["total_value"], "pnlPct": port["pnl_percent"],
                    "totalAssetValue": port["total_value"],
                    **{name: port.get(name) or [] for name in CURVE_NAMES}})
    if state.get("holdings"):
        out.append({"type": "team_holdings", "data": state["holdings"]})
    if state.get("stats"):
        out.append({"type": "team_stats", "data": state["stats"]})
    if trades:
        out.append({"type": "team_trades", "mode": "full",
                    "data": [TradeRow.model_validate(t.model_dump(exclude_none=True)).to_wire() for t in trades]})
    if state.get("leaderboard"):
        out.append({"type": "team_leaderboard", "data": state["leaderboard"]})
    return out


def _feed(state: dict[str, Any], trades: list[Trade]) -> tuple[list[str], int]:
    """``feed_history`` (newest first) as events.jsonl lines, oldest first, then the closing figures.

    Only events the desk's strict parser accepts are written (a replay refuses
    the rest); returns (lines, how many feed items were left out).
    """
    lines, skipped = [], 0
    for item in reversed(state.get("feed_history") or []):
        try:
            lines.append(ev.parse_frame(item).model_dump_json(exclude_none=True))
        except ev.FrameRefused:
            skipped += 1
    for item in _closing_events(state, trades):
        try:
            lines.append(ev.parse_frame(item).model_dump_json(exclude_none=True))
        except ev.FrameRefused:
            pass  # a part this project's events cannot carry: it is still in server_state.json
    return lines, skipped


def _dates(state: dict[str, Any], trades: list[Trade]) -> list[dt.date]:
    dates = []
    for point in (state.get("portfolio") or {}).get("equity") or []:
        dates.append(dt.datetime.fromtimestamp(point["t"] / 1000, NY).date())
    for trade in trades:
        try:
            dates.append(dt.date.fromisoformat(trade.trading_date))
        except ValueError:
            pass
    if isinstance(state.get("current_date"), str):
        try:
            dates.append(dt.date.fromisoformat(state["current_date"]))
        except ValueError:
            pass
    return sorted(dates)


def _bootstrap(folder: Path, state: dict[str, Any], trades: list[Trade], internal: dict[str, Any] | None
               ) -> BootstrapConfig:
    tickers: list[str] = []
    for ticker in ([h.get("ticker") for h in state.get("holdings", [])] + [t.ticker for t in trades]
                   + list(state.get("realtime_prices") or {})):
        if isinstance(ticker, str) and ticker != "CASH" and TICKER_RE.match(ticker) and ticker not in tickers:
            tickers.append(ticker)
    dates = _dates(state, trades)
    mode = MODE_BY_FOLDER.get(folder.resolve().name.lower())
    if mode is None:
        mode = state.get("server_mode") if state.get("server_mode") in ("backtest", "mock", "live") else "backtest"
    data: dict[str, Any] = {"mode": mode}
    if tickers:
        data["tickers"] = tickers
    if dates:
        data.update(start_date=dates[0], end_date=dates[-1])
    equity = (state.get("portfolio") or {}).get("equity") or []
    cash = (internal or {}).get("initial_cash") or (equity[0]["v"] if equity else None)
    if isinstance(cash, (int, float)) and not isinstance(cash, bool) and cash > 0:
        data["initial_cash"] = float(cash)
    return BootstrapConfig.model_validate(data)


def _metrics(state: dict[str, Any], config: BootstrapConfig) -> dict[str, Any]:
    port = state.get("portfolio") or {}
    equity = [p["v"] for p in port.get("equity") or []]
    if not equity:
        total = (state.get("dashboard") or {}).get("summary", {}).get("totalAssetValue")
        equity = [config.initial_cash] + ([total] if isinstance(total, (int, float)) else [])
    stats = state.get("stats") or {}
    baselines = {name: [p["v"] for p in port.get(name) or []] for name in metrics.BASELINE_NAMES}
    return metrics.summary(equity, baselines, int(stats.get("totalTrades", len(state.get("trades", [])))),
                           float(stats.get("winRate", 0.0)))


def import_run(folder: Path, runs_dir: Path) -> RunImport:
    """Import one legacy run folder into ``runs_dir`` (a no-op when it was imported before)."""
    folder, runs_dir = Path(folder), Path(runs_dir)
    run_id = legacy_run_id(folder)
    target = runs_dir / run_id
    if (target / "BOOTSTRAP.md").is_file():
        return RunImport(folder, run_id, imported=False)
    result = RunImport(folder, run_id, imported=True)
    parts, trades = _read(folder, result.problems, result.files)
    state = parts.state
    config = _bootstrap(folder, state, trades, parts.internal).model_copy(update={"run_id": run_id})
    dates = _dates(state, trades)
    last = dates[-1].isoformat() if dates else None
    state.update(run_id=run_id, status="completed", server_mode=config.mode, is_backtest=config.mode == "backtest")
    if last and not state.get("current_date"):
        state["current_date"] = last
    state["metrics"] = _metrics(state, config)
    state = ServerStateFile.model_validate(state).to_wire()
    feed, result.feed_skipped = _feed(state, trades)
    result.trades, result.feed_events = len(trades), len(feed)
    body = (f"\nImported by `evotraders import-legacy` from `{folder.resolve()}` (an earlier EvoTraders "
            f"run folder). Its files are kept in team_dashboard/; state/legacy_import.json records the import.\n")
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    runs_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run_id}.", dir=runs_dir))
    try:
        for name, data in parts.copies.items():
            atomic_write_json(staging / name, data)
        atomic_write_json(staging / SERVER_STATE_FILE, state)
        atomic_write_text(staging / "state" / "trades.jsonl",
                          "".join(t.model_dump_json(exclude_none=True) + "\n" for t in trades))
        atomic_write_text(staging / "logs" / "events.jsonl", "".join(line + "\n" for line in feed))
        atomic_write_json(staging / "state" / "runtime_state.json", {
            "status": "completed", "imported": True, "progress": 1.0, "current_date": state.get("current_date"),
            "updated_at": now, "status_detail": f"imported from {folder.resolve()}"})
        atomic_write_json(staging / MARKER, {
            "source": str(folder.resolve()), "run_id": run_id, "imported_at": now, "files": result.files,
            "problems": result.problems, "trades": result.trades, "feed_events": result.feed_events,
            "feed_skipped": result.feed_skipped})
        atomic_write_text(staging / "BOOTSTRAP.md", render_bootstrap(config, body))  # last: marks the run whole
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def import_legacy(path: Path, runs_dir: Path) -> list[RunImport]:
    """Import every legacy run folder at ``path`` (see :func:`find_legacy_runs`).

    Raises:
        LegacyImportError: ``path`` holds no legacy run folder, or is inside ``runs_dir``.
    """
    resolved, runs = Path(path).resolve(), Path(runs_dir).resolve()
    if resolved == runs or runs in resolved.parents:
        raise LegacyImportError(f"{path}: is inside the runs folder {runs_dir}; import from outside it")
    return [import_run(folder, runs_dir) for folder in find_legacy_runs(path)]
