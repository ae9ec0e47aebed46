"""The read models behind trading_service and news_service, on a real backtest's files."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from backend.errors import BadRequestError, NotFoundError
from backend.market.factory import make_market
from backend.readers.event_index import EventIndexes
from backend.readers.explain import Explainer
from backend.storage.jsonl import JsonlTail
from backend.readers.news_reader import NewsReader
from backend.readers.trading_reader import TradingReader
from backend.schema import events as ev
from backend.storage.atomic import atomic_write_json
from backend.storage.bootstrap_file import read_bootstrap
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore
from backend.trading import metrics
from tests.services.trading_news_support import (ANALYSTS, SHORT_RUN_DAYS, SHORT_RUN_TICKERS, backtest_data, day_events,
                                                 jsonl)



data = backtest_data("readers", "r1")


@pytest.fixture
def store(data: Path) -> RunStore:
    return RunStore(data / "runs", WorkspaceStore(data / "workspaces"))


def copy_run(data: Path, tmp_path: Path, run_id: str = "copy") -> tuple[RunStore, Path]:
    """A private copy of the backtest (tests that modify files must not touch the shared one)."""
    shutil.copytree(data / "runs/r1", tmp_path / "runs" / run_id)
    return RunStore(tmp_path / "runs", WorkspaceStore(tmp_path / "workspaces")), tmp_path / "runs" / run_id


# -- trades -----------------------------------------------------------------------------
def test_trade_pages_add_up_to_the_journal_and_filters_filter(store, data):
    journal = jsonl(data / "runs/r1/state/trades.jsonl")
    reader = TradingReader(store)
    assert len(journal) > 10
    first = reader.trades("r1", limit=1000)
    assert first.total == len(journal) and [t.id for t in first.items] == [r["id"] for r in journal]
    pages, offset = [], 0
    while offset < first.total:
        got = reader.trades("r1", offset=offset, limit=7)
        assert got.total == len(journal) and len(got.items) <= 7
        pages.extend(t.id for t in got.items)
        offset += 7
    assert pages == [r["id"] for r in journal]
    tsla = reader.trades("r1", ticker="tsla", limit=1000)
    assert tsla.total == sum(r["ticker"] == "TSLA" for r in journal) > 1
    assert {t.ticker for t in tsla.items} == {"TSLA"}
    window = reader.trades("r1", date_from=dt.date(2025, 2, 10), date_to=dt.date(2025, 2, 12), limit=1000)
    expected = [r["id"] for r in journal if "2025-02-10" <= r["trading_date"] <= "2025-02-12"]
    assert [t.id for t in window.items] == expected and 0 < len(expected) < len(journal)
    with pytest.raises(BadRequestError, match="after end"):
        reader.trades("r1", date_from=dt.date(2025, 2, 12), date_to=dt.date(2025, 2, 10))
    with pytest.raises(BadRequestError, match="limit"):
        reader.trades("r1", limit=1001)


def test_encoded_trade_pages_match_and_follow_the_journal(data, tmp_path):
    store, run = copy_run(data, tmp_path)
    reader = TradingReader(store)
    args = ("copy", "AAPL", dt.date(2025, 2, 4), dt.date(2025, 2, 26), 1, 3)
    first = reader.trades_json(*args)
    assert json.loads(first) == reader.trades(*args).model_dump(mode="json")
    assert reader.trades_json(*args) is first  # remembered while the journal is unchanged
    row = dict(jsonl(run / "state/trades.jsonl")[-1], id="T20250226-999", ticker="AAPL", trading_date="2025-02-26")
    with open(run / "state/trades.jsonl", "a") as fh:
        fh.write(json.dumps(row) + "\n")
    grown = json.loads(reader.trades_json(*args))
    assert grown["total"] == json.loads(first)["total"] + 1


def test_unknown_and_invalid_runs_are_named(store):
    reader = TradingReader(store)
    with pytest.raises(NotFoundError, match="nope"):
        reader.view("nope", "portfolio")
    for bad in ("../etc", "a b", "", "x" * 200):
        with pytest.raises(BadRequestError, match="invalid run id"):
            reader.view(bad, "portfolio")


# -- state views ----------------------------------------------------------------------------
def test_metrics_are_the_engine_metrics_of_the_saved_curves(store, data):
    state = json.loads((data / "runs/r1/state/server_state.json").read_text())
    port = state["portfolio"]
    expected = metrics.summary([p["v"] for p in port["equity"]],
                               {n: [p["v"] for p in port[n]] for n in metrics.BASELINE_NAMES},
                               state["stats"]["totalTrades"], state["stats"]["winRate"])
    got = TradingReader(store).metrics("r1").model_dump()
    assert got.pop("run_id") == "r1" and got.pop("days") == len(port["equity"]) == SHORT_RUN_DAYS
    assert got == expected == state["metrics"]


def test_portfolio_holdings_and_curves_match_the_state_file(store, data):
    state = json.loads((data / "runs/r1/state/server_state.json").read_text())
    reader = TradingReader(store)
    portfolio = reader.portfolio("r1")
    assert portfolio.total_value == state["portfolio"]["total_value"]
    assert portfolio.cash == state["dashboard"]["summary"]["cash"]
    assert portfolio.pnl == pytest.approx(state["portfolio"]["total_value"] - 100_000.0, abs=0.01)
    assert portfolio.status == "completed" and portfolio.trading_days_completed == SHORT_RUN_DAYS
    holdings = reader.view("r1", "holdings").model_dump()["items"]
    assert holdings == state["holdings"]
    curves = json.loads(reader.view_json("r1", "curves"))
    for name in ("equity", "baseline", "momentum_return"):
        assert curves[name] == state["portfolio"][name]
    # Encoded once per state version: the same bytes object until the file changes.
    assert reader.view_json("r1", "curves") is reader.view_json("r1", "curves")


def test_a_run_without_state_yet_reads_as_its_initial_cash(tmp_path):
    store = RunStore(tmp_path / "runs", WorkspaceStore(tmp_path / "workspaces"))
    store.create_run("default", run_id="fresh", overrides={"initial_cash": 50_000.0})
    reader = TradingReader(store)
    portfolio = reader.portfolio("fresh")
    assert (portfolio.status, portfolio.total_value, portfolio.cash, portfolio.pnl) == ("created", 50_000.0,
                                                                                       50_000.0, 0.0)
    assert reader.view("fresh", "curves").equity == [] and reader.trades("fresh").total == 0
    assert reader.metrics("fresh").final_equity == 50_000.0 and reader.signals("fresh").total == 0


def test_state_views_follow_an_atomic_rewrite_and_never_fail_while_it_happens(data, tmp_path):
    store, run = copy_run(data, tmp_path)
    reader = TradingReader(store)
    path = run / "state/server_state.json"
    original = json.loads(path.read_text())
    changed = {**original, "portfolio": {**original["portfolio"], "total_value": 1.0}}
    stop = threading.Event()

    def writer():
        flip = False
        while not stop.is_set():
            atomic_write_json(path, changed if flip else original, indent=None, fsync=False)
            flip = not flip

    thread = threading.Thread(target=writer)
    thread.start()
    seen = set()
    try:
        for _ in range(300):
            seen.add(reader.portfolio("copy").total_value)
            json.loads(reader.view_json("copy", "stats"))
    finally:
        stop.set()
        thread.join()
    assert seen <= {1.0, original["portfolio"]["total_value"]} and len(seen) == 2


# -- the incremental jsonl reader ---------------------------------------------------------
def test_jsonl_tail_skips_a_torn_line_until_it_is_whole(tmp_path):
    path = tmp_path / "x.jsonl"
    tail = JsonlTail(path)
    assert tail.poll() == (False, [])
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": ')
    assert tail.poll() == (False, [{"a": 1}, {"a": 2}])
    with open(path, "a") as fh:
        fh.write('3}\nnot json\n{"a": 4}\n')
    assert tail.poll() == (False, [{"a": 3}, {"a": 4}])
    assert tail.poll() == (False, [])
    tmp = tmp_path / "new"
    tmp.write_text('{"b": 1}\n')
    os.replace(tmp, path)  # replaced (as the engine does when it truncates on resume)
    assert tail.poll() == (True, [{"b": 1}])


def test_trades_appended_in_torn_pieces_are_counted_only_when_whole(data, tmp_path):
    store, run = copy_run(data, tmp_path)
    journal = (run / "state/trades.jsonl").read_bytes()
    rows = journal.splitlines(keepends=True)
    (run / "state/trades.jsonl").write_bytes(b"")
    reader = TradingReader(store)
    counts = []
    with open(run / "state/trades.jsonl", "ab") as fh:
        for row in rows:
            for piece in (row[:17], row[17:]):
                fh.write(piece)
                fh.flush()
                counts.append(reader.trades("copy").total)
    assert counts == [n for k in range(len(rows)) for n in (k, k + 1)]


# -- signals and the event index ------------------------------------------------------------
def test_signals_history_has_every_analyst_ticker_and_day(store, data):
    reader = TradingReader(store)
    everything = reader.signals("r1", limit=1000)
    assert everything.total == SHORT_RUN_DAYS * len(ANALYSTS) * len(SHORT_RUN_TICKERS)
    one = reader.signals("r1", agent_id="technical_analyst", ticker="msft", date=dt.date(2025, 2, 10))
    assert one.total == 1
    logged = next(e for e in day_events(data / "runs/r1", "2025-02-10")
                  if e["type"] == "agent_message" and e["agentId"] == "technical_analyst" and "signals" in e["data"])
    want = next(s for s in logged["data"]["signals"] if s["ticker"] == "MSFT")
    got = one.items[0]
    assert (got.signal, got.confidence, got.reasoning) == (want["signal"], want["confidence"], want["reasoning"])
    assert {r.agent_id for r in reader.signals("r1", ticker="AAPL", limit=1000).items} == set(ANALYSTS)
    assert reader.signals("r1", date=dt.date(2025, 2, 8)).total == 0  # a Saturday


def test_index_built_from_a_growing_log_equals_one_built_at_once(data, tmp_path):
    store, run = copy_run(data, tmp_path)
    log = run / "logs/events.jsonl"
    whole = log.read_bytes()
    log.write_bytes(whole[: len(whole) // 3 + 11])  # cut mid-line
    indexes = EventIndexes(store)
    partial = indexes.get("copy")
    assert 0 < len(partial.days) < SHORT_RUN_DAYS
    with open(log, "ab") as fh:
        fh.write(whole[len(whole) // 3 + 11:])
    grown = indexes.get("copy")
    full = EventIndexes(store).get("copy")
    assert sorted(grown.days) == sorted(full.days) and len(full.days) == SHORT_RUN_DAYS
    assert grown.signal_records() == full.signal_records()
    for date in full.days:
        assert grown.days[date] == full.days[date]


def test_encoded_signal_pages_equal_a_plain_filter_and_follow_the_growing_log(data, tmp_path):
    """The grouped, cached signal pages say what filtering every record says, before and after the log grows;
    the cache answers on the event loop only while the log is unchanged."""
    import json as _json
    import random as _random

    store, run = copy_run(data, tmp_path)
    log = run / "logs/events.jsonl"
    whole = log.read_bytes()
    cut = whole.index(b"\n", len(whole) // 2) + 1
    log.write_bytes(whole[:cut])
    reader = TradingReader(store)
    rng = _random.Random(5)
    for part in ("half", "whole"):
        every = EventIndexes(store).get("copy").signal_records()
        dates = sorted({r.date for r in every})
        for _ in range(40):
            agent = rng.choice([None, *ANALYSTS])
            ticker = rng.choice([None, "AAPL", "MSFT", "NVDA"])
            date = rng.choice([None, *dates[:3], dates[-1]])
            offset, limit = rng.choice([(0, 50), (3, 7), (40, 500)])
            want = [r for r in every if (agent is None or r.agent_id == agent) and
                    (ticker is None or r.ticker == ticker) and (date is None or r.date == date)]
            day = dt.date.fromisoformat(date) if date else None
            got = _json.loads(reader.signals_json("copy", agent, ticker, day, offset, limit))
            assert got["total"] == len(want), (part, agent, ticker, date)
            assert [(i["date"], i["agent_id"], i["ticker"]) for i in got["items"]] == \
                [(r.date, r.agent_id, r.ticker) for r in want[offset: offset + limit]]
            assert reader.cached_signals_json("copy", agent, ticker, day, offset, limit) == \
                reader.signals_json("copy", agent, ticker, day, offset, limit)
        if part == "half":
            with open(log, "ab") as fh:
                fh.write(whole[cut:])
            assert reader.cached_signals_json("copy", None, None, None, 0, 50) is None  # the log grew: rebuilt


# -- explanations -----------------------------------------------------------------------------
def test_explanation_of_a_trade_names_the_days_signals_and_the_pm_reasoning(store, data):
    journal = jsonl(data / "runs/r1/state/trades.jsonl")
    trade = journal[len(journal) // 2]
    ex = Explainer(store).explain_trade("r1", trade["id"])
    assert (ex.date, ex.ticker, ex.trade.id) == (trade["trading_date"], trade["ticker"], trade["id"])
    events = day_events(data / "runs/r1", trade["trading_date"])
    pm = next(e for e in events if e["type"] == "agent_message" and e["agentId"] == "portfolio_manager")
    decision = next(d for d in pm["data"]["decisions"] if d["ticker"] == trade["ticker"])
    assert ex.decision.reasoning == decision["reasoning"] and ex.decision.action == trade["action"]
    assert decision["reasoning"] in ex.summary
    assert [s.agent_id for s in ex.signals] == ANALYSTS
    for s in ex.signals:
        said = next(e for e in events if e["type"] == "agent_message" and e["agentId"] == s.agent_id)
        want = next(x for x in said["data"]["signals"] if x["ticker"] == trade["ticker"])
        assert (s.signal, s.reasoning) == (want["signal"], want["reasoning"])
        assert f"{s.agent_id} {s.signal}" in ex.summary
    risk = next(e for e in events if e["type"] == "agent_message" and e["agentId"] == "risk_manager")
    limit = next(x for x in risk["data"]["limits"] if x["ticker"] == trade["ticker"])
    assert ex.risk.max_position_value == limit["max_position_value"] and ex.risk.warnings == limit["warnings"]
    summary = next(e for e in events if e["type"] == "agent_message" and e["agentId"] == "conference summary")
    assert ex.conference.summary == summary["content"] and ex.conference.ticker_view in summary["content"]
    assert len(ex.final_calls) == 4 and ex.approval is None


def test_explanation_of_a_decision_without_a_trade_and_the_errors(store, data):
    journal = jsonl(data / "runs/r1/state/trades.jsonl")
    traded = {(r["trading_date"], r["ticker"]) for r in journal}
    explainer = Explainer(store)
    day = "2025-02-05"
    held = next(t for t in SHORT_RUN_TICKERS if (day, t) not in traded)
    ex = explainer.explain_decision("r1", dt.date.fromisoformat(day), held.lower())
    assert ex.trade is None and ex.ticker == held and ex.decision is not None and len(ex.signals) == 4
    with pytest.raises(NotFoundError, match="no trade"):
        explainer.explain_trade("r1", "T19990101-001")
    with pytest.raises(NotFoundError, match="does not trade 'META'"):
        explainer.explain_decision("r1", dt.date(2025, 2, 5), "META")
    with pytest.raises(NotFoundError, match="no events for 2025-02-08"):
        explainer.explain_decision("r1", dt.date(2025, 2, 8), "AAPL")


def test_explanation_includes_the_approval_a_trade_went_through(data, tmp_path):
    store, run = copy_run(data, tmp_path)
    journal = jsonl(run / "state/trades.jsonl")
    trade = dict(journal[-1], id="T-approved", approval_id="ap-1")
    with open(run / "state/trades.jsonl", "a") as fh:
        fh.write(json.dumps(trade) + "\n")
    requested = ev.ApprovalRequested(approval_id="ap-1", run_id="copy", date=trade["trading_date"],
                                     ticker=trade["ticker"], action=trade["action"], quantity=trade["quantity"] + 5,
                                     price=trade["price"], notional=trade["notional"], confidence=70.0,
                                     reasoning="large order", expires_at="2025-02-28T09:35:00Z")
    resolved = ev.ApprovalResolved(approval_id="ap-1", decision="approved", decided_by="operator",
                                   reason="size ok", ts=1, quantity=trade["quantity"])
    with open(run / "logs/events.jsonl", "a") as fh:
        fh.write(requested.wire_json() + "\n" + resolved.wire_json() + "\n")
    ex = Explainer(store).explain_trade("copy", "T-approved")
    assert ex.approval.model_dump() == {
        "approval_id": "ap-1", "status": "approved", "requested_quantity": trade["quantity"] + 5,
        "notional": trade["notional"], "reasoning": "large order", "decided_by": "operator",
        "reason": "size ok", "quantity": trade["quantity"]}
    assert "Approval ap-1: approved by operator." in ex.summary


# -- news ------------------------------------------------------------------------------------
def test_news_comes_from_the_runs_own_market(store, data):
    reader = NewsReader(store)
    config, _ = read_bootstrap(data / "runs/r1/BOOTSTRAP.md")
    market = make_market(config)
    start, end = dt.date(2025, 1, 1), dt.date(2025, 2, 28)
    page = reader.news("r1", "msft", start, end, limit=1000)
    expected = market.news("MSFT", start, end)
    assert page.total == len(expected) > 0
    assert [(n.id, n.headline, n.sentiment) for n in page.items] == [(n.id, n.headline, n.sentiment)
                                                                      for n in expected]
    everyone = reader.news("r1", start=start, end=end, limit=1000)
    assert everyone.tickers == SHORT_RUN_TICKERS
    assert everyone.total == sum(len(market.news(t, start, end)) for t in everyone.tickers)
    assert [n.date for n in everyone.items] == sorted(n.date for n in everyone.items)
    default = reader.news("r1")  # the 30 days up to the run's current date
    assert (default.start, default.end) == ("2025-01-29", "2025-02-28")
    assert reader.market("r1")[1] is reader.market("r1")[1]  # one provider per run
    with pytest.raises(NotFoundError, match="does not trade 'META'"):
        reader.news("r1", "META")
    with pytest.raises(BadRequestError, match="after end"):
        reader.news("r1", start=end, end=start)
    with pytest.raises(BadRequestError, match="longer than"):
        reader.news("r1", start=dt.date(1900, 1, 1), end=dt.date(2025, 1, 1))
