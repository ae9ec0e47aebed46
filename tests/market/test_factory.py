"""make_market picks the provider named by BOOTSTRAP.md and checks the tickers."""

import datetime as dt

import pytest

from backend.config import load_settings
from backend.market.base import MarketData, MarketDataError
from backend.market.csv_market import CsvMarket
from backend.market.factory import LiveMarket, make_market
from backend.market.synthetic import SyntheticMarket
from backend.paths import SAMPLE_DATA_DIR
from backend.schema.bootstrap import BootstrapConfig


def config(**kw):
    return BootstrapConfig(**kw)


def test_synthetic_uses_seed_and_tickers():
    market = make_market(config(tickers=["AAPL", "ZZZZ"], market={"kind": "synthetic", "seed": 42}))
    assert isinstance(market, SyntheticMarket) and isinstance(market, MarketData)
    assert market.tickers == ["AAPL", "ZZZZ"] and market.seed == 42
    assert market.bars("AAPL", dt.date(2025, 1, 3)) == SyntheticMarket(seed=42).bars("AAPL", dt.date(2025, 1, 3))


def test_csv_dir_relative_to_project_root():
    market = make_market(config(tickers=["AAPL", "NVDA"],
                                market={"kind": "csv", "csv_dir": "resources/sample_data/ret_data"}))
    assert isinstance(market, CsvMarket)
    assert market.csv_dir == SAMPLE_DATA_DIR / "ret_data"
    assert len(market.trading_days(dt.date(2025, 1, 1), dt.date(2025, 6, 30))) == 60


def test_csv_with_absolute_dir_and_unknown_ticker():
    with pytest.raises(MarketDataError) as err:
        make_market(config(tickers=["AAPL", "GOOGL"],
                           market={"kind": "csv", "csv_dir": str(SAMPLE_DATA_DIR / "ret_data")}))
    assert str(err.value) == f"unknown ticker GOOGL: no GOOGL.csv in {SAMPLE_DATA_DIR / 'ret_data'}"


def test_csv_needs_a_directory():
    with pytest.raises(MarketDataError, match="market.kind csv needs market.csv_dir"):
        make_market(config(market={"kind": "csv"}))


def test_live_needs_a_key():
    with pytest.raises(MarketDataError) as err:
        make_market(config(market={"kind": "live"}), load_settings(finnhub_api_key=None))
    assert str(err.value) == "live mode needs FINNHUB_API_KEY; set it or use mode backtest/mock"


async def test_live_gives_history_and_quotes(finnhub):
    settings = load_settings(finnhub_api_key="good", finnhub_base_url=finnhub.base_url)
    market = make_market(config(tickers=["AAPL", "MSFT"], market={"kind": "live", "seed": 7}), settings)
    assert isinstance(market, LiveMarket) and isinstance(market, MarketData)
    expected = SyntheticMarket(seed=7).bars("AAPL", dt.date(2025, 1, 3), 2)
    assert market.bars("AAPL", dt.date(2025, 1, 3), 2) == expected
    assert market.fundamentals("MSFT", dt.date(2025, 1, 3)) is not None
    async with market.quotes:
        ticks = await market.quotes.poll()
    assert ticks["MSFT"].price == 418.58
    assert {r["symbol"] for r in finnhub.requests} == {"AAPL", "MSFT"}
