"""LiveQuotes against a real local HTTP server replaying recorded Finnhub answers."""

import datetime as dt
import socket
from types import SimpleNamespace

import httpx
import pytest

from backend.config import load_settings
from backend.market.base import MarketDataError, Tick
from backend.market.live_quotes import LiveQuotes, require_live_config


@pytest.fixture
def server(finnhub):
    return finnhub


def quotes(server, tickers, token="good", **kw):
    return LiveQuotes(token, tickers, base_url=server.base_url, backoff=0.0, **kw)


async def test_poll_returns_ticks_for_every_ticker(server):
    async with quotes(server, ["AAPL", "MSFT", "NVDA"]) as live:
        ticks = await live.poll()
    assert list(ticks) == ["AAPL", "MSFT", "NVDA"]
    aapl = ticks["AAPL"]
    assert isinstance(aapl, Tick)
    assert (aapl.price, aapl.open, aapl.prev_close) == (243.36, 243.36, 243.85)
    assert aapl.time == dt.datetime(2025, 1, 2, 21, 0, tzinfo=dt.timezone.utc)
    assert ticks["NVDA"].open == 136.0
    assert {r["symbol"] for r in server.requests} == {"AAPL", "MSFT", "NVDA"}
    assert all(r["token"] == "good" for r in server.requests)


async def test_poll_is_concurrent(server):
    # The server answers PAIRA and PAIRB only when both requests are open at once.
    async with quotes(server, ["PAIRA", "PAIRB"], timeout=10.0) as live:
        ticks = await live.poll()
    assert ticks["PAIRA"].price == ticks["PAIRB"].price == 10.0


@pytest.mark.parametrize("token,status", [("revoked", 401), ("forbidden", 403)])
async def test_rejected_key(server, token, status):
    async with quotes(server, ["AAPL", "NOPE"], token=token) as live:
        with pytest.raises(MarketDataError) as err:
            await live.poll()
    assert str(err.value) == f"Finnhub rejected FINNHUB_API_KEY (HTTP {status})"
    assert token not in str(err.value)


@pytest.mark.parametrize("symbol,message", [
    ("BROKEN", "Finnhub quote for BROKEN: response is not JSON"),
    ("NOC", "Finnhub quote for NOC: field 'c' is missing"),
    ("NOPE", "Finnhub quote for NOPE: field 'c' is 0 (unknown symbol or no trades yet)"),
])
async def test_bad_answers_name_ticker_and_field(server, symbol, message):
    async with quotes(server, ["AAPL", symbol]) as live:
        with pytest.raises(MarketDataError) as err:
            await live.poll()
    assert str(err.value) == message


async def test_rate_limit_backs_off_then_succeeds(server):
    async with quotes(server, ["FLAKY"], max_retries=3) as live:
        ticks = await live.poll()
        assert ticks["FLAKY"].price == 243.36
        assert live.rate_limited == 2
    assert [r["symbol"] for r in server.requests] == ["FLAKY"] * 3


async def test_rate_limit_is_reported_when_it_persists(server):
    async with quotes(server, ["LIMIT"], max_retries=2) as live:
        with pytest.raises(MarketDataError) as err:
            await live.poll()
    assert str(err.value).startswith("Finnhub rate limit (HTTP 429) for LIMIT persisted after 3 attempts")
    assert len(server.requests) == 3


async def test_unreachable_server_is_named_without_the_key():
    with socket.socket() as probe:          # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    live = LiveQuotes("secret-key", ["AAPL"], base_url=f"http://127.0.0.1:{port}/api/v1", backoff=0.0)
    with pytest.raises(MarketDataError) as err:
        await live.poll()
    await live.aclose()
    assert str(err.value).startswith(f"cannot reach Finnhub at http://127.0.0.1:{port}/api/v1")
    assert "secret-key" not in str(err.value)


async def test_a_shared_client_is_left_open(server):
    async with httpx.AsyncClient() as client:
        live = LiveQuotes("good", ["MSFT"], base_url=server.base_url, client=client)
        assert (await live.poll())["MSFT"].price == 418.58
        await live.aclose()
        assert not client.is_closed


def test_require_live_config():
    with pytest.raises(MarketDataError) as err:
        require_live_config(load_settings(finnhub_api_key=None))
    assert str(err.value) == "live mode needs FINNHUB_API_KEY; set it or use mode backtest/mock"
    with pytest.raises(MarketDataError):
        require_live_config(SimpleNamespace(finnhub_api_key="   "))
    assert require_live_config(load_settings(finnhub_api_key="abc123")) == "abc123"
