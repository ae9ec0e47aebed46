"""Per-ticker parameters of the synthetic market.

Known tickers get hand-picked, roughly realistic figures (price level and
share count near the start of 2025, annual drift and volatility, margins);
any other symbol gets plausible figures drawn from a generator seeded by the
market seed and a stable hash of the symbol, so ``ZZZZ`` always looks the same.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class CompanyProfile:
    """What the generator needs to know about one ticker.

    Args:
        anchor_price: close on the anchor date (2025-01-02); the whole path is
            scaled so that it passes through this price.
        drift: expected annual log-return of the stock.
        vol: total annual volatility (market part plus idiosyncratic part).
        beta: loading on the shared market factor.
        price_to_sales: market cap / TTM revenue at the anchor date; fixes the
            revenue scale so valuation ratios come out plausible.
    """

    ticker: str
    name: str
    anchor_price: float
    drift: float
    vol: float
    beta: float
    shares: float
    price_to_sales: float
    gross_margin: float
    operating_margin: float
    debt_to_equity: float
    avg_volume: float


_KNOWN = {
    p.ticker: p
    for p in (
        CompanyProfile("AAPL", "Apple Inc.", 243.0, 0.16, 0.28, 1.10, 15.0e9, 9.4, 0.46, 0.31, 1.50, 50e6),
        CompanyProfile("MSFT", "Microsoft Corporation", 418.0, 0.15, 0.26, 1.00, 7.43e9, 12.0, 0.69, 0.45, 0.30, 21e6),
        CompanyProfile("GOOGL", "Alphabet Inc.", 190.0, 0.13, 0.30, 1.05, 12.2e9, 6.8, 0.58, 0.31, 0.10, 28e6),
        CompanyProfile("NVDA", "NVIDIA Corporation", 138.0, 0.35, 0.50, 1.60, 24.5e9, 30.0, 0.75, 0.62, 0.15, 250e6),
        CompanyProfile("TSLA", "Tesla, Inc.", 400.0, 0.20, 0.55, 1.60, 3.2e9, 13.0, 0.18, 0.08, 0.10, 90e6),
        CompanyProfile("META", "Meta Platforms, Inc.", 600.0, 0.16, 0.38, 1.25, 2.52e9, 9.4, 0.81, 0.41, 0.30, 14e6),
        CompanyProfile("AMZN", "Amazon.com, Inc.", 220.0, 0.15, 0.32, 1.20, 10.5e9, 3.7, 0.48, 0.10, 0.50, 40e6),
    )
}

_NAME_STEMS = ("Apex", "Northwind", "Bluecrest", "Vantage", "Sierra", "Helix", "Orion", "Cobalt",
               "Summit", "Meridian", "Keystone", "Lumen", "Harbor", "Pinnacle", "Atlas", "Nimbus")
_NAME_SUFFIXES = ("Holdings", "Technologies", "Systems", "Industries", "Labs", "Group", "Dynamics")


def ticker_key(ticker: str) -> int:
    """Stable 32-bit key of a symbol (crc32; Python's hash() varies per process)."""
    return zlib.crc32(ticker.encode("ascii"))


def profile_for(ticker: str, seed: int) -> CompanyProfile:
    """The profile of ``ticker``: the known table, else drawn deterministically."""
    if ticker in _KNOWN:
        return _KNOWN[ticker]
    rng = np.random.default_rng([seed, ticker_key(ticker), 1])
    vol = float(rng.uniform(0.22, 0.55))
    gross = float(rng.uniform(0.25, 0.75))
    return CompanyProfile(
        ticker=ticker,
        name=f"{_NAME_STEMS[rng.integers(len(_NAME_STEMS))]} "
             f"{_NAME_SUFFIXES[rng.integers(len(_NAME_SUFFIXES))]} ({ticker})",
        anchor_price=float(round(np.exp(rng.uniform(np.log(15), np.log(400))), 2)),
        drift=float(rng.uniform(-0.02, 0.22)),
        vol=vol,
        beta=float(np.clip(0.6 + vol * 1.5 + rng.normal(0, 0.15), 0.5, 1.9)),
        shares=float(np.exp(rng.uniform(np.log(2e8), np.log(5e9)))),
        price_to_sales=float(rng.uniform(1.5, 10.0)),
        gross_margin=gross,
        operating_margin=float(gross * rng.uniform(0.2, 0.6)),
        debt_to_equity=float(rng.uniform(0.05, 1.5)),
        avg_volume=float(np.exp(rng.uniform(np.log(2e6), np.log(60e6)))),
    )
