"""news_service as a real process on a free port: headlines and explanations of a real backtest."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from backend.market.factory import make_market
from backend.storage.bootstrap_file import read_bootstrap
from tests.services.trading_news_support import (ANALYSTS, SHORT_RUN_TICKERS, backtest_data, data_env, day_events,
                                                 jsonl, run_service)

VIEWER = "viewer-token-for-news-tests-00"


data = backtest_data("news", "x")


@pytest.fixture(scope="module")
def service(data):
    yield from run_service("news_service", data_env(data, EVOTRADERS_VIEWER_TOKEN=VIEWER))


@pytest.fixture(scope="module")
def client(service):
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {VIEWER}"}, timeout=10.0) as c:
        yield c


def test_reads_need_a_token(service):
    assert httpx.get(f"{service.url}/health").status_code == 200
    answer = httpx.get(f"{service.url}/runs/x/news")
    assert answer.status_code == 401 and set(answer.json()) >= {"error", "detail"}


def test_news_are_the_runs_market_headlines(client, data):
    config, _ = read_bootstrap(data / "runs/x/BOOTSTRAP.md")
    market = make_market(config)
    start, end = dt.date(2025, 1, 15), dt.date(2025, 2, 28)
    nvda = client.get("/runs/x/news", params={"ticker": "NVDA", "start": start.isoformat(), "end": end.isoformat(),
                                              "limit": 1000}).json()
    expected = market.news("NVDA", start, end)
    assert nvda["total"] == len(expected) > 0
    assert [(n["headline"], n["sentiment"], n["date"]) for n in nvda["items"]] == \
        [(n.headline, n.sentiment, n.date.isoformat()) for n in expected]
    assert all(-1 <= n["sentiment"] <= 1 for n in nvda["items"])
    every = client.get("/runs/x/news", params={"start": start.isoformat(), "end": end.isoformat(),
                                               "limit": 1000}).json()
    assert every["tickers"] == SHORT_RUN_TICKERS and every["total"] > nvda["total"]
    first = client.get("/runs/x/news", params={"start": start.isoformat(), "end": end.isoformat(), "limit": 5}).json()
    assert first["items"] == every["items"][:5] and first["total"] == every["total"]
    default = client.get("/runs/x/news").json()
    assert (default["start"], default["end"]) == ("2025-01-29", "2025-02-28")


@pytest.mark.parametrize("params, status", [
    ({"ticker": "META"}, 404), ({"start": "2025-02-30"}, 422), ({"start": "2025-03-01", "end": "2025-02-01"}, 400),
    ({"start": "1900-01-01", "end": "2025-01-01"}, 400), ({"limit": 5000}, 422), ({"ticker": "A B"}, 422),
])
def test_bad_news_queries_are_4xx(client, params, status):
    answer = client.get("/runs/x/news", params=params)
    assert answer.status_code == status, answer.text
    assert set(answer.json()) >= {"error", "detail"}


def test_explanation_of_a_real_trade_names_signals_and_pm_reasoning(client, data):
    journal = jsonl(data / "runs/x/state/trades.jsonl")
    for trade in (journal[0], journal[len(journal) // 2], journal[-1]):
        ex = client.get(f"/runs/x/explain/trade/{trade['id']}").json()
        assert (ex["date"], ex["ticker"], ex["trade"]["id"]) == (trade["trading_date"], trade["ticker"], trade["id"])
        events = day_events(data / "runs/x", trade["trading_date"])
        said = {e["agentId"]: e for e in events if e["type"] == "agent_message" and "signals" in (e.get("data") or {})}
        assert [s["agent_id"] for s in ex["signals"]] == ANALYSTS
        for s in ex["signals"]:
            want = next(x for x in said[s["agent_id"]]["data"]["signals"] if x["ticker"] == trade["ticker"])
            assert (s["signal"], s["confidence"], s["reasoning"]) == (want["signal"], want["confidence"],
                                                                      want["reasoning"])
        pm = next(e for e in events if e["type"] == "agent_message" and e["agentId"] == "portfolio_manager")
        decision = next(d for d in pm["data"]["decisions"] if d["ticker"] == trade["ticker"])
        assert ex["decision"] == {k: decision[k] for k in ("action", "quantity", "confidence", "reasoning")}
        assert decision["reasoning"] in ex["summary"] and trade["id"] in ex["summary"]
        assert ex["conference"]["ticker_view"] and ex["risk"]["max_position_value"] > 0


def test_explanation_of_a_decision_by_date_and_ticker(client, data):
    traded = {(r["trading_date"], r["ticker"]) for r in jsonl(data / "runs/x/state/trades.jsonl")}
    date = "2025-02-05"
    held = next(t for t in SHORT_RUN_TICKERS if (date, t) not in traded)
    ex = client.get("/runs/x/explain/decision", params={"date": date, "ticker": held}).json()
    pm = next(e for e in day_events(data / "runs/x", date)
              if e["type"] == "agent_message" and e["agentId"] == "portfolio_manager")
    decision = next(d for d in pm["data"]["decisions"] if d["ticker"] == held)
    assert ex["trade"] is None and ex["decision"]["reasoning"] == decision["reasoning"]
    assert len(ex["signals"]) == 4 and len(ex["final_calls"]) == 4
    traded_one = next(t for t in SHORT_RUN_TICKERS if (date, t) in traded)
    ex = client.get("/runs/x/explain/decision", params={"date": date, "ticker": traded_one.lower()}).json()
    assert ex["trade"]["trading_date"] == date and ex["ticker"] == traded_one


@pytest.mark.parametrize("path, status", [
    ("/runs/x/explain/trade/T19990101-001", 404), ("/runs/nope/explain/trade/T20250203-001", 404),
    ("/runs/x/explain/decision?date=2025-02-08&ticker=AAPL", 404),   # a Saturday
    ("/runs/x/explain/decision?date=2025-02-05&ticker=META", 404),   # not a ticker of the run
    ("/runs/x/explain/decision?date=2025-02-05", 422), ("/runs/x/explain/decision?date=05/02/2025&ticker=AAPL", 422),
    ("/runs/..%2Fetc/explain/trade/T1", 404), ("/runs/a%20b/news", 422),
])
def test_explanation_errors(client, path, status):
    answer = client.get(path)
    assert answer.status_code == status, answer.text
    assert set(answer.json()) >= {"error", "detail"}
