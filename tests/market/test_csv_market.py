"""CsvMarket: the shipped fixture loads; every kind of bad row is named precisely."""

import datetime as dt

import pytest

from backend.market.base import MarketData, MarketDataError
from backend.market.csv_market import CsvMarket, write_bars
from backend.market.synthetic import SyntheticMarket
from backend.paths import SAMPLE_DATA_DIR

D = dt.date
FIXTURE = SAMPLE_DATA_DIR / "ret_data"
HEADER = "time,open,high,low,close,volume,ret"
GOOD_ROWS = [
    "2025-01-02,100.0,102.0,99.0,101.0,1000,0.01",
    "2025-01-03,101.0,103.0,100.5,102.01,1200,0.01",
    "2025-01-06,102.0,102.5,100.0,100.99,900,-0.01",
    "2025-01-07,101.0,101.5,99.5,100.0,800,-0.0098",
]


def write(tmp_path, ticker, rows, header=HEADER):
    (tmp_path / f"{ticker}.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return tmp_path


def test_fixture_loads_and_matches_the_synthetic_market():
    market = CsvMarket(FIXTURE, ["AAPL", "MSFT", "NVDA"])
    assert isinstance(market, MarketData)
    days = market.trading_days(D(2025, 1, 1), D(2025, 12, 31))
    assert len(days) == 60 and days[0] == D(2025, 1, 2) and days[-1] == D(2025, 3, 31)
    synthetic = SyntheticMarket(seed=7)
    for t in market.tickers:
        for bar in market.bars(t, D(2025, 3, 31), 100):
            want = synthetic.bar(t, bar.date)
            assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
                want.open, want.high, want.low, want.close, want.volume)
            assert bar.ret == pytest.approx(want.ret, abs=1e-8)
    assert market.fundamentals("AAPL", D(2025, 2, 3)) is None
    assert market.news("AAPL", D(2025, 1, 1), D(2025, 3, 31)) == []


def test_queries_never_look_ahead(tmp_path):
    market = CsvMarket(write(tmp_path, "ABC", GOOD_ROWS), ["ABC"])
    assert [b.date for b in market.bars("ABC", D(2025, 1, 5))] == [D(2025, 1, 2), D(2025, 1, 3)]
    assert [b.date for b in market.bars("ABC", D(2025, 1, 7), lookback=2)] == [D(2025, 1, 6), D(2025, 1, 7)]
    assert market.bars("ABC", D(2025, 1, 1)) == []
    assert market.bar("ABC", D(2025, 1, 6)).close == 100.99
    assert market.price_on("ABC", D(2025, 1, 5)) == 102.01
    with pytest.raises(MarketDataError, match="no ABC bar on 2025-01-04 in ABC.csv"):
        market.bar("ABC", D(2025, 1, 4))


def test_trading_days_are_dates_common_to_all_files(tmp_path):
    write(tmp_path, "ABC", GOOD_ROWS)
    write(tmp_path, "XYZ", [GOOD_ROWS[0], GOOD_ROWS[2].replace("100.99", "101.0").replace("-0.01", "0.0")])
    market = CsvMarket(tmp_path, ["ABC", "XYZ"])
    assert market.trading_days(D(2025, 1, 1), D(2025, 1, 31)) == [D(2025, 1, 2), D(2025, 1, 6)]
    assert market.trading_days(D(2025, 1, 3), D(2025, 1, 5)) == []


def test_first_row_may_leave_ret_empty(tmp_path):
    rows = [GOOD_ROWS[0].rsplit(",", 1)[0] + ",", *GOOD_ROWS[1:]]
    market = CsvMarket(write(tmp_path, "ABC", rows), ["ABC"])
    assert market.bar("ABC", D(2025, 1, 2)).ret == 0.0


def test_unknown_ticker(tmp_path):
    write(tmp_path, "ABC", GOOD_ROWS)
    with pytest.raises(MarketDataError) as err:
        CsvMarket(tmp_path, ["ABC", "ZZZZ"])
    assert str(err.value) == f"unknown ticker ZZZZ: no ZZZZ.csv in {tmp_path}"
    market = CsvMarket(tmp_path, ["ABC"])
    with pytest.raises(MarketDataError, match="unknown ticker QQQ: no QQQ.csv in"):
        market.bars("QQQ", D(2025, 1, 3))


def test_missing_directory(tmp_path):
    with pytest.raises(MarketDataError, match="does not exist"):
        CsvMarket(tmp_path / "nowhere", ["AAPL"])


# (line to replace (0-based in GOOD_ROWS), replacement row, exact message); line numbers count the header.
BAD_ROWS = [
    (1, "2025-01-03,101.0,103.0,100.5,abc,1200,0.01",
     "ABC.csv line 3, column close: 'abc' is not a number"),
    (1, "2025-01-03,101.0,103.0,100.5,nan,1200,0.01",
     "ABC.csv line 3, column close: 'nan' is not a number"),
    (2, "2025-01-06,,102.5,100.0,100.99,900,-0.01",
     "ABC.csv line 4, column open: '' is not a number"),
    (1, "2025-01-03,101.0,103.0,-100.5,102.01,1200,0.01",
     "ABC.csv line 3, column low: -100.5 is not a positive price"),
    (1, "2025-01-03,101.0,103.0,100.5,0,1200,0.01",
     "ABC.csv line 3, column close: 0 is not a positive price"),
    (1, "2025-01-03,101.0,99.0,100.5,100.6,1200,0.01",
     "ABC.csv line 3, column high: 99 is below low 100.5"),
    (1, "2025-01-03,104.0,103.0,100.5,102.01,1200,0.01",
     "ABC.csv line 3, column open: 104 is outside [low 100.5, high 103]"),
    (1, "2025-01-03,101.0,103.0,100.5,102.01,-5,0.01",
     "ABC.csv line 3, column volume: -5 is negative"),
    (1, "2025-01-03,101.0,103.0,100.5,102.01,1200,1.0",
     "ABC.csv line 3, column ret: 1 does not match close-to-close return 0.010000 (ret must be a fraction)"),
    (1, "2025-13-03,101.0,103.0,100.5,102.01,1200,0.01",
     "ABC.csv line 3, column time: '2025-13-03' is not a date (YYYY-MM-DD)"),
    (1, "03/01/2025,101.0,103.0,100.5,102.01,1200,0.01",
     "ABC.csv line 3, column time: '03/01/2025' is not a date (YYYY-MM-DD)"),
    (2, "2025-01-02,102.0,102.5,100.0,100.99,900,-0.01",
     "ABC.csv line 4, column time: 2025-01-02 repeats line 2"),
    (3, "2025-01-03,101.0,101.5,99.5,100.0,800,-0.0098",
     "ABC.csv line 5, column time: 2025-01-03 repeats line 3"),
    (2, "2025-01-01,102.0,102.5,100.0,100.99,900,-0.01",
     "ABC.csv line 4, column time: 2025-01-01 is earlier than the previous row's 2025-01-03"),
    (1, "2025-01-03,101.0,103.0,100.5,102.01,1200",
     "ABC.csv line 3: expected 7 columns (time,open,high,low,close,volume,ret), got 6"),
]


@pytest.mark.parametrize("index,row,message", BAD_ROWS, ids=[m.split(": ")[0] + " " + m.split(": ")[1][:20] for _, _, m in BAD_ROWS])
def test_bad_rows_are_named_exactly(tmp_path, index, row, message):
    rows = list(GOOD_ROWS)
    rows[index] = row
    write(tmp_path, "ABC", rows)
    with pytest.raises(MarketDataError) as err:
        CsvMarket(tmp_path, ["ABC"])
    assert str(err.value) == message


def test_bad_header_and_empty_file(tmp_path):
    write(tmp_path, "ABC", GOOD_ROWS, header="date,open,high,low,close,volume,ret")
    with pytest.raises(MarketDataError) as err:
        CsvMarket(tmp_path, ["ABC"])
    assert str(err.value) == ("ABC.csv line 1: header must be time,open,high,low,close,volume,ret "
                              "(got date,open,high,low,close,volume,ret)")
    write(tmp_path, "ABC", [])
    with pytest.raises(MarketDataError, match="ABC.csv: no data rows after the header"):
        CsvMarket(tmp_path, ["ABC"])
    (tmp_path / "ABC.csv").write_text("", encoding="utf-8")
    with pytest.raises(MarketDataError, match="ABC.csv line 1: header must be"):
        CsvMarket(tmp_path, ["ABC"])


def test_write_bars_round_trips(tmp_path):
    bars = SyntheticMarket(seed=2).bars("XYZ", D(2024, 6, 28), 30)
    write_bars(tmp_path / "XYZ.csv", bars)
    loaded = CsvMarket(tmp_path, ["XYZ"]).bars("XYZ", D(2024, 6, 28), 30)
    assert [(b.date, b.open, b.high, b.low, b.close, b.volume) for b in loaded] == \
        [(b.date, b.open, b.high, b.low, b.close, b.volume) for b in bars]
    assert not list(tmp_path.glob(".*.tmp"))


def test_optional_news_csv(tmp_path):
    write(tmp_path, "ABC", GOOD_ROWS)
    (tmp_path / "news.csv").write_text(
        "date,ticker,headline,sentiment,source\n"
        "2025-01-06,ABC,ABC wins a contract,0.6,wire\n"
        "2025-01-02,ABC,\"ABC, Inc. cuts guidance\",-0.4,\n"
        "2025-01-03,XYZ,Unrelated,0.1,wire\n", encoding="utf-8")
    items = CsvMarket(tmp_path, ["ABC"]).news("ABC", D(2025, 1, 1), D(2025, 1, 31))
    assert [(i.date, i.headline, i.sentiment, i.source) for i in items] == [
        (D(2025, 1, 2), "ABC, Inc. cuts guidance", -0.4, "csv"),
        (D(2025, 1, 6), "ABC wins a contract", 0.6, "wire"),
    ]
    assert items[0].id and items[0].id != items[1].id
    (tmp_path / "news.csv").write_text("date,ticker,headline,sentiment\n2025-01-06,ABC,Too happy,1.5\n")
    with pytest.raises(MarketDataError, match=r"news.csv line 2, column sentiment: 1.5 is outside \[-1, 1\]"):
        CsvMarket(tmp_path, ["ABC"])
