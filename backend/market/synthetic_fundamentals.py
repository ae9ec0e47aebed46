"""Quarterly fundamentals of the synthetic market.

Each ticker reports every calendar quarter, 25 to 39 days after quarter end
(a fixed per-ticker lag), starting with 2014Q3 (published before the price
origin) so fundamentals exist from the first bar on. Quarterly revenue grows at a drift tied to the stock's drift
plus a share of the stock's realized excess return that quarter, so business
and share price move together loosely. The revenue scale is fixed by the
profile's price-to-sales at the anchor date, which keeps P/E in a sane range.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from backend.market import calendar
from backend.market.base import Fundamentals
from backend.market.synthetic_prices import ANCHOR, MAX_DATE, ORIGIN, TickerSeries

FIRST_QUARTER_END = dt.date(2013, 3, 31)    # two years of history before the first report
TAX_RATE = 0.17


@dataclass(frozen=True, slots=True)
class QuarterReport:
    """One published quarter (TTM figures); P/E is filled in at query time."""

    published: dt.date
    quarter_end: dt.date
    revenue: float
    revenue_growth: float
    gross_margin: float
    operating_margin: float
    net_income: float
    free_cash_flow: float
    shares: float
    debt_to_equity: float


def _quarter_ends(until: dt.date) -> list[dt.date]:
    out, year, month = [], FIRST_QUARTER_END.year, FIRST_QUARTER_END.month
    while True:
        nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
        end = nxt - calendar.ONE_DAY
        if end > until:
            return out
        out.append(end)
        year, month = (year + 1, 3) if month == 12 else (year, month + 3)


def _on_or_after(day: dt.date) -> dt.date:
    return day if calendar.is_trading_day(day) else calendar.next_trading_day(day)


class FundamentalsBook:
    """The published quarterly reports of one ticker, extended with its price series."""

    def __init__(self, series: TickerSeries) -> None:
        self.series = series
        self.lag = 25 + series.key % 15
        self.reports: list[QuarterReport] = []
        self._published: list[dt.date] = []
        self._built_through: dt.date | None = None

    def latest(self, as_of: dt.date) -> QuarterReport | None:
        """The newest report published on or before ``as_of``."""
        self._build(as_of)
        i = bisect_right(self._published, as_of)
        return self.reports[i - 1] if i else None

    def _log_close_on(self, day: dt.date) -> float | None:
        s = self.series
        i = bisect_right(s.dates, day) - 1
        return math.log(s.closes[i]) if i >= 0 and day >= ORIGIN else None

    def _build(self, as_of: dt.date) -> None:
        # Reports are rebuilt from the first quarter whenever the series grows;
        # the work is tiny (a few dozen quarters) and keeps every report a pure
        # function of the seed, the ticker and the quarter. Every quarter the
        # series covers is built, not only those up to ``as_of``: the book is
        # then complete through ``_built_through`` whatever was asked first.
        horizon = min(max(as_of, ANCHOR), MAX_DATE)
        if self._built_through is not None and horizon <= self._built_through:
            return
        s, p = self.series, self.series.profile
        s.ensure(horizon)
        ends = _quarter_ends(s.dates[-1])
        base_growth = (0.02 + 0.5 * (p.drift - 0.08)) / 4
        expected = p.drift / 4
        raw_log_rev, gross, op_gap, dte, fcf_ratio = [], [], [], [], []
        level, g, gap, d = 0.0, p.gross_margin, p.gross_margin - p.operating_margin, p.debt_to_equity
        prev_close = None
        for q, end in enumerate(ends):
            rng = np.random.default_rng([s.seed, s.key, 5, q])
            e = rng.standard_normal(5).tolist()
            close = self._log_close_on(end)
            excess = (close - prev_close - expected) if close is not None and prev_close is not None else 0.0
            prev_close = close
            level += base_growth + 0.3 * excess + 0.025 * e[0]
            g = p.gross_margin + 0.7 * (g - p.gross_margin) + 0.01 * e[1]
            gap = (p.gross_margin - p.operating_margin) + 0.6 * (gap - (p.gross_margin - p.operating_margin)) \
                + 0.01 * e[2] - 0.05 * excess
            d = max(0.0, p.debt_to_equity + 0.8 * (d - p.debt_to_equity) + 0.05 * e[3])
            raw_log_rev.append(level)
            gross.append(min(max(g, 0.05), 0.95))
            op_gap.append(gap)
            dte.append(d)
            fcf_ratio.append(0.85 + 0.1 * e[4])
        quarterly = [math.exp(x) for x in raw_log_rev]
        ttm = [sum(quarterly[max(q - 3, 0):q + 1]) for q in range(len(quarterly))]
        # Scale revenue so TTM at the last quarter reported before the anchor matches price-to-sales.
        anchor_q = max(i for i, end in enumerate(ends) if _on_or_after(end + dt.timedelta(days=self.lag)) <= ANCHOR)
        scale = p.anchor_price * p.shares / p.price_to_sales / ttm[anchor_q]
        buyback = ((s.key >> 8) % 9 - 4) * 0.0015   # -0.6 % .. +0.6 % shares per quarter
        reports = []
        for q in range(6, len(ends)):
            revenue = ttm[q] * scale
            op_margin = min(max(gross[q] - op_gap[q], 0.01), gross[q] - 0.01)
            net = revenue * op_margin * (1 - TAX_RATE)
            reports.append(QuarterReport(
                published=_on_or_after(ends[q] + dt.timedelta(days=self.lag)),
                quarter_end=ends[q], revenue=revenue,
                revenue_growth=ttm[q] / ttm[q - 4] - 1.0,
                gross_margin=round(gross[q], 4), operating_margin=round(op_margin, 4),
                net_income=net, free_cash_flow=net * fcf_ratio[q],
                shares=p.shares * math.exp(-buyback * (q - anchor_q)),
                debt_to_equity=round(dte[q], 3),
            ))
        self.reports = [r for r in reports if r.published <= s.dates[-1]]
        self._published = [r.published for r in self.reports]
        self._built_through = s.dates[-1]

    def fundamentals(self, ticker: str, as_of: dt.date, price: float) -> Fundamentals | None:
        """Fundamentals known on ``as_of``, with P/E taken at ``price``."""
        r = self.latest(as_of)
        if r is None:
            return None
        return Fundamentals(
            ticker=ticker, as_of=as_of, revenue=r.revenue, revenue_growth=r.revenue_growth,
            gross_margin=r.gross_margin, operating_margin=r.operating_margin,
            net_income=r.net_income, free_cash_flow=r.free_cash_flow,
            shares_outstanding=r.shares, pe_ratio=round(price * r.shares / r.net_income, 2),
            debt_to_equity=r.debt_to_equity,
        )
