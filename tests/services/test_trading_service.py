"""trading_service as a real process on a free port, reading a real backtest."""

from __future__ import annotations

import json

import httpx
import pytest

from backend.trading import metrics
from tests.services.trading_news_support import (SHORT_RUN, SHORT_RUN_DAYS, SHORT_RUN_TICKERS, Service, backtest_data,
                                                 data_env, jsonl, run_service)

VIEWER = "viewer-token-for-trading-tests"
ADMIN = "admin-token-for-trading-tests-0"


data = backtest_data("trading", "x")


@pytest.fixture(scope="module")
def service(data):
    env = data_env(data, EVOTRADERS_VIEWER_TOKEN=VIEWER, EVOTRADERS_ADMIN_TOKEN=ADMIN)
    yield from run_service("trading_service", env)


@pytest.fixture(scope="module")
def client(service):
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {VIEWER}"}, timeout=10.0) as c:
        yield c


def test_health_needs_no_token_and_reads_need_one(service):
    health = httpx.get(f"{service.url}/health").json()
    assert health["status"] == "ok" and health["service"] == "trading_service"
    missing = httpx.get(f"{service.url}/runs/x/portfolio")
    assert missing.status_code == 401 and set(missing.json()) >= {"error", "detail"}
    wrong = httpx.get(f"{service.url}/runs/x/portfolio", headers={"Authorization": "Bearer not-a-token-at-all"})
    assert wrong.status_code == 401
    assert httpx.get(f"{service.url}/runs/x/portfolio", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200


def test_trades_pages_add_up_and_filters_filter(client, data):
    journal = jsonl(data / "runs/x/state/trades.jsonl")
    whole = client.get("/runs/x/trades", params={"limit": 1000}).json()
    assert whole["total"] == len(journal) > 10
    assert [t["id"] for t in whole["items"]] == [r["id"] for r in journal]
    ids, offset = [], 0
    while True:
        page = client.get("/runs/x/trades", params={"offset": offset, "limit": 6}).json()
        assert page["total"] == len(journal) and page["offset"] == offset and page["limit"] == 6
        if not page["items"]:
            break
        ids += [t["id"] for t in page["items"]]
        offset += 6
    assert ids == [r["id"] for r in journal]
    tsla = client.get("/runs/x/trades", params={"ticker": "TSLA", "limit": 1000}).json()
    assert tsla["total"] == sum(r["ticker"] == "TSLA" for r in journal) > 1
    assert {t["ticker"] for t in tsla["items"]} == {"TSLA"}
    window = client.get("/runs/x/trades", params={"date_from": "2025-02-10", "date_to": "2025-02-12"}).json()
    assert [t["id"] for t in window["items"]] == [r["id"] for r in journal
                                                  if "2025-02-10" <= r["trading_date"] <= "2025-02-12"]
    assert 0 < window["total"] < len(journal)


@pytest.mark.parametrize("params, status", [
    ({"limit": 1001}, 422), ({"limit": 0}, 422), ({"offset": -1}, 422), ({"date_from": "2025-02-30"}, 422),
    ({"date_to": "yesterday"}, 422), ({"ticker": "not a ticker"}, 422),
    ({"date_from": "2025-02-12", "date_to": "2025-02-10"}, 400),
])
def test_bad_trade_queries_are_4xx_with_error_and_detail(client, params, status):
    answer = client.get("/runs/x/trades", params=params)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) >= {"error", "detail"} and body["detail"]


@pytest.mark.parametrize("path", ["/runs/nope/portfolio", "/runs/..%2Fetc/portfolio", "/runs/a%20b/trades",
                                  "/runs/%2E%2E/metrics", "/runs/" + "y" * 100 + "/curves"])
def test_unknown_or_invalid_runs_are_4xx_never_5xx(client, path):
    answer = client.get(path)
    assert answer.status_code in (400, 404, 422), answer.text
    assert set(answer.json()) >= {"error", "detail"}


def test_unknown_run_is_404_naming_it(client):
    answer = client.get("/runs/nope/metrics")
    assert answer.status_code == 404 and "nope" in answer.json()["detail"]


def test_metrics_equal_the_engine_summary_of_the_run(client, data):
    state = json.loads((data / "runs/x/state/server_state.json").read_text())
    port = state["portfolio"]
    expected = metrics.summary([p["v"] for p in port["equity"]],
                               {n: [p["v"] for p in port[n]] for n in metrics.BASELINE_NAMES},
                               len(jsonl(data / "runs/x/state/trades.jsonl")), state["stats"]["winRate"])
    got = client.get("/runs/x/metrics").json()
    assert got.pop("run_id") == "x" and got.pop("days") == SHORT_RUN_DAYS
    assert got == expected
    assert set(got["excess_return_pct"]) == {"baseline", "baseline_vw", "momentum"}


def test_portfolio_holdings_prices_stats_curves_and_leaderboard(client, data):
    state = json.loads((data / "runs/x/state/server_state.json").read_text())
    portfolio = client.get("/runs/x/portfolio").json()
    assert portfolio["total_value"] == state["portfolio"]["total_value"]
    assert portfolio["pnl"] == pytest.approx(portfolio["total_value"] - 100_000.0, abs=0.01)
    assert portfolio["status"] == "completed" and portfolio["trading_days_completed"] == SHORT_RUN_DAYS
    holdings = client.get("/runs/x/holdings").json()["items"]
    assert {h["ticker"] for h in holdings} <= set(SHORT_RUN_TICKERS) | {"CASH"}
    assert next(h for h in holdings if h["ticker"] == "CASH")["quantity"] == pytest.approx(portfolio["cash"])
    prices = client.get("/runs/x/prices").json()["prices"]
    assert set(prices) == set(SHORT_RUN_TICKERS) and all(q["price"] > 0 for q in prices.values())
    stats = client.get("/runs/x/stats").json()
    assert stats["totalTrades"] == len(jsonl(data / "runs/x/state/trades.jsonl"))
    curves = client.get("/runs/x/curves").json()
    lengths = {len(curves[n]) for n in ("equity", "baseline", "baseline_vw", "momentum", "equity_return")}
    assert lengths == {SHORT_RUN_DAYS}
    assert curves["equity"][-1]["v"] == portfolio["total_value"] and curves["equity"][0]["t"] > 1e12  # epoch ms
    board = client.get("/runs/x/leaderboard").json()["items"]
    # The analysts ranked, then the unranked portfolio and risk managers' rows (docs/protocol.md).
    assert [r["rank"] for r in board] == [1, 2, 3, 4, None, None]
    assert [r["agentId"] for r in board[-2:]] == ["portfolio_manager", "risk_manager"]
    analysts = board[:-2]
    assert [r["winRate"] for r in analysts] == sorted((r["winRate"] for r in analysts), reverse=True)


def test_signals_history_filters_by_agent_ticker_and_date(client, data):
    everything = client.get("/runs/x/signals", params={"limit": 1000}).json()
    assert everything["total"] == SHORT_RUN_DAYS * 4 * len(SHORT_RUN_TICKERS)
    mine = client.get("/runs/x/signals", params={"agent_id": "sentiment_analyst", "ticker": "NVDA",
                                                 "limit": 1000}).json()
    assert mine["total"] == SHORT_RUN_DAYS
    assert {(s["agent_id"], s["ticker"]) for s in mine["items"]} == {("sentiment_analyst", "NVDA")}
    assert [s["date"] for s in mine["items"]] == sorted(s["date"] for s in mine["items"])
    day = client.get("/runs/x/signals", params={"date": "2025-02-14", "limit": 1000}).json()
    assert day["total"] == 4 * len(SHORT_RUN_TICKERS) and {s["date"] for s in day["items"]} == {"2025-02-14"}


def test_a_run_that_grows_while_served_is_read_as_it_grows(client, data):
    """Trades appended (torn mid-line) and a state rewritten atomically show up, and nothing fails."""
    journal_path = data / "runs/x/state/trades.jsonl"
    original = journal_path.read_bytes()
    row = dict(jsonl(journal_path)[-1], id="T20250228-999")
    line = (json.dumps(row) + "\n").encode()
    before = client.get("/runs/x/trades").json()["total"]
    try:
        with open(journal_path, "ab") as fh:
            fh.write(line[:25])
            fh.flush()
            assert client.get("/runs/x/trades").json()["total"] == before  # torn: not yet
            fh.write(line[25:])
        after = client.get("/runs/x/trades", params={"offset": before}).json()
        assert after["total"] == before + 1 and after["items"][0]["id"] == "T20250228-999"
    finally:
        journal_path.write_bytes(original)
    assert client.get("/runs/x/trades").json()["total"] == before


def test_openapi_declares_the_response_models(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for name in ("portfolio", "holdings", "trades", "prices", "curves", "stats", "metrics", "leaderboard", "signals"):
        ok = paths[f"/runs/{{run_id}}/{name}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok.get("$ref", "").startswith("#/components/schemas/"), name
    assert "TradesPage" in spec["components"]["schemas"]


def test_reading_a_run_while_its_gateway_writes_it_never_fails(tmp_path):
    """A real Gateway runs a backtest (state rewritten every stage, journal and log appended)
    while every view is read over and over: every answer is 200 and the run only moves forward."""
    from tests.e2e.gateway_process import start_gateway

    env = data_env(tmp_path)
    with Service("trading_service", data_env(tmp_path, EVOTRADERS_VIEWER_TOKEN=VIEWER)) as service, \
            httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {VIEWER}"}, timeout=10.0) as c:
        gateway, _ = start_gateway(env, "--run-id", "live", "--create", "--exit-when-done", "--pace", "0.1",
                                   *SHORT_RUN)
        try:
            days, trades, signals, answers = [0], [0], [0], 0
            while gateway.poll() is None or answers == 0:
                for view in ("portfolio", "holdings", "prices", "curves", "stats", "metrics", "leaderboard"):
                    answer = c.get(f"/runs/live/{view}")
                    assert answer.status_code == 200, (view, answer.text)
                    answers += 1
                days.append(c.get("/runs/live/portfolio").json()["trading_days_completed"])
                trades.append(c.get("/runs/live/trades").json()["total"])
                signals.append(c.get("/runs/live/signals").json()["total"])
            assert gateway.wait(timeout=60) == 0
        finally:
            if gateway.poll() is None:
                gateway.kill()
        assert days == sorted(days) and trades == sorted(trades) and signals == sorted(signals)
        assert len(set(days)) > 3  # it was really read mid-run, several days apart
        journal = jsonl(tmp_path / "runs/live/state/trades.jsonl")
        final = c.get("/runs/live/trades", params={"limit": 1000}).json()
        assert final["total"] == len(journal) and [t["id"] for t in final["items"]] == [r["id"] for r in journal]
        assert c.get("/runs/live/portfolio").json()["trading_days_completed"] == SHORT_RUN_DAYS
