"""Benchmark portfolios the team is compared with: buy-and-hold and monthly momentum.

Each starts with the team's initial cash, trades fractional shares at the
day's open with no costs, and is valued at the day's close. A ticker without
a usable price on some day keeps its last known price. Everything is
deterministic: ties break by ticker name.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Mapping, Sequence

Prices = Mapping[str, float]


def _valid(p: Any) -> bool:
    """A usable price or cap: a finite positive number (numpy scalars included)."""
    try:
        x = float(p)
    except (TypeError, ValueError):
        return False
    return math.isfinite(x) and x > 0


def _tradable(opens: Prices) -> list[str]:
    return sorted(t for t, p in opens.items() if _valid(p))


class _Book:
    """Cash and fractional shares, valued at the last price seen per ticker."""

    def __init__(self, cash: float) -> None:
        self.cash = float(cash)
        self.shares: dict[str, float] = {}
        self.last_prices: dict[str, float] = {}

    def mark(self, prices: Prices) -> None:
        self.last_prices.update({t: float(p) for t, p in prices.items() if _valid(p)})

    def value(self) -> float:
        return self.cash + sum(n * self.last_prices[t] for t, n in self.shares.items())

    def rebalance(self, weights: Mapping[str, float]) -> None:
        """Hold ``weights`` (fractions of current value) at the last marked prices."""
        total = self.value()
        self.shares = {t: total * w / self.last_prices[t] for t, w in sorted(weights.items()) if w > 0}
        self.cash = total * (1.0 - sum(weights.values())) if weights else total

    def to_dict(self) -> dict[str, Any]:
        return {"cash": self.cash, "shares": dict(sorted(self.shares.items())),
                "last_prices": dict(sorted(self.last_prices.items()))}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> _Book:
        book = cls(float(d["cash"]))
        book.shares = {str(t): float(n) for t, n in d["shares"].items()}
        book.last_prices = {str(t): float(p) for t, p in d["last_prices"].items()}
        return book


def equal_weights(tickers: Sequence[str]) -> dict[str, float]:
    return {t: 1.0 / len(tickers) for t in tickers} if tickers else {}


def cap_weights(tickers: Sequence[str], market_caps: Mapping[str, float] | None) -> dict[str, float]:
    """Weights proportional to market cap; a ticker without a usable cap gets 1/n.

    With k of n caps missing, the missing ones hold 1/n each and the rest share
    (n - k)/n in proportion to their caps; with none known this is equal weight.
    """
    n = len(tickers)
    caps = {t: float(market_caps[t]) for t in tickers
            if market_caps and t in market_caps and _valid(market_caps[t])}
    if not caps:
        return equal_weights(tickers)
    known_share = len(caps) / n
    total_cap = sum(caps.values())
    return {t: (known_share * caps[t] / total_cap if t in caps else 1.0 / n) for t in tickers}


def trailing_return(closes: Sequence[float], lookback: int) -> float | None:
    """Return from the close ``lookback`` sessions back to the latest (shorter if less history)."""
    window = [c for c in closes if _valid(c)][-(lookback + 1):]
    if len(window) < 2:
        return None
    return window[-1] / window[0] - 1.0


class EqualWeightBuyHold:
    """Buys equal dollar amounts of every ticker at the first day's open, then holds."""

    name = "baseline"

    def __init__(self, initial_cash: float) -> None:
        self.book = _Book(initial_cash)
        self.started = False

    def weights(self, tickers: list[str], market_caps: Mapping[str, float] | None) -> dict[str, float]:
        return equal_weights(tickers)

    def on_day(self, date: str, opens: Prices, closes: Prices,
               history_closes: Mapping[str, Sequence[float]],
               market_caps: Mapping[str, float] | None) -> float:
        self.book.mark(opens)
        tickers = _tradable(opens)
        if not self.started and tickers:
            self.book.rebalance(self.weights(tickers, market_caps))
            self.started = True
        self.book.mark(closes)
        return self.book.value()

    def to_dict(self) -> dict[str, Any]:
        return {"book": self.book.to_dict(), "started": self.started}

    def load(self, d: Mapping[str, Any]) -> None:
        self.book = _Book.from_dict(d["book"])
        self.started = bool(d["started"])


class ValueWeightBuyHold(EqualWeightBuyHold):
    """Buys at the first day's open in proportion to market cap (see ``cap_weights``), then holds."""

    name = "baseline_vw"

    def weights(self, tickers: list[str], market_caps: Mapping[str, float] | None) -> dict[str, float]:
        return cap_weights(tickers, market_caps)


class MonthlyMomentum:
    """Holds the top half (at least one) of tickers by trailing return, equally weighted.

    Rebalances at the open of the first day it sees and of the first trading
    day of each later month. ``history_closes`` must hold closes strictly
    before the day (the rebalance happens at the open, before today's close).
    Tickers without enough history rank after those with; when no ticker has
    any, it holds them all.

    Args:
        initial_cash: starting cash.
        lookback: trailing window in trading days.
    """

    name = "momentum"

    def __init__(self, initial_cash: float, lookback: int = 60) -> None:
        if lookback < 1:
            raise ValueError(f"momentum lookback must be >= 1 trading day, got {lookback}")
        self.book = _Book(initial_cash)
        self.lookback = lookback
        self.month: str | None = None        # "YYYY-MM" of the last day seen
        self.selected: list[str] = []
        self.rebalance_dates: list[str] = []

    def select(self, tickers: list[str], history_closes: Mapping[str, Sequence[float]]) -> list[str]:
        rets = {t: trailing_return(history_closes.get(t) or [], self.lookback) for t in tickers}
        known = sorted((t for t in tickers if rets[t] is not None), key=lambda t: (-rets[t], t))
        if not known:
            return list(tickers)
        ranked = known + [t for t in tickers if rets[t] is None]
        return ranked[:max(1, len(tickers) // 2)]

    def on_day(self, date: str, opens: Prices, closes: Prices,
               history_closes: Mapping[str, Sequence[float]],
               market_caps: Mapping[str, float] | None) -> float:
        month = _month_of(date)
        self.book.mark(opens)
        tickers = _tradable(opens)
        if month != self.month and tickers:
            self.selected = self.select(tickers, history_closes)
            self.book.rebalance(equal_weights(self.selected))
            self.rebalance_dates.append(str(date))
            self.month = month
        self.book.mark(closes)
        return self.book.value()

    def to_dict(self) -> dict[str, Any]:
        return {"book": self.book.to_dict(), "lookback": self.lookback, "month": self.month,
                "selected": list(self.selected), "rebalance_dates": list(self.rebalance_dates)}

    def load(self, d: Mapping[str, Any]) -> None:
        self.book = _Book.from_dict(d["book"])
        self.lookback = int(d["lookback"])
        self.month = d["month"]
        self.selected = [str(t) for t in d["selected"]]
        self.rebalance_dates = [str(x) for x in d["rebalance_dates"]]


def _month_of(date: str) -> str:
    try:
        return dt.date.fromisoformat(str(date)).strftime("%Y-%m")
    except ValueError:
        raise ValueError(f"baseline date must be YYYY-MM-DD, got {date!r}") from None


class Baselines:
    """The three benchmarks side by side, with their daily closing-value curves.

    Args:
        initial_cash: the team's starting cash, given to each benchmark.
        lookback: momentum's trailing window in trading days.
    """

    NAMES = ("baseline", "baseline_vw", "momentum")

    def __init__(self, initial_cash: float, lookback: int = 60) -> None:
        if not (math.isfinite(initial_cash) and initial_cash >= 0):
            raise ValueError(f"baseline initial cash must be a finite number >= 0, got {initial_cash!r}")
        self.initial_cash = float(initial_cash)
        self.strategies = {
            "baseline": EqualWeightBuyHold(initial_cash),
            "baseline_vw": ValueWeightBuyHold(initial_cash),
            "momentum": MonthlyMomentum(initial_cash, lookback),
        }
        self.dates: list[str] = []
        self.curves: dict[str, list[float]] = {n: [] for n in self.NAMES}

    def on_day(self, date: str, opens: Prices, closes: Prices,
               history_closes: Mapping[str, Sequence[float]] | None = None,
               market_caps: Mapping[str, float] | None = None) -> dict[str, float]:
        """Trade at ``opens``, value at ``closes``; returns each benchmark's closing value.

        Calling again with the last date (a resumed run redoing its day)
        replaces that day's point instead of adding one.
        """
        date = str(date)
        _month_of(date)
        if self.dates and date < self.dates[-1]:
            raise ValueError(f"baseline dates must not go back: {date} after {self.dates[-1]}")
        values = {n: s.on_day(date, opens, closes, history_closes or {}, market_caps)
                  for n, s in self.strategies.items()}
        if self.dates and date == self.dates[-1]:
            for n in self.NAMES:
                self.curves[n][-1] = values[n]
        else:
            self.dates.append(date)
            for n in self.NAMES:
                self.curves[n].append(values[n])
        return values

    def to_dict(self) -> dict[str, Any]:
        return {"initial_cash": self.initial_cash,
                "strategies": {n: s.to_dict() for n, s in self.strategies.items()},
                "dates": list(self.dates),
                "curves": {n: list(v) for n, v in self.curves.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Baselines:
        try:
            strategies = d["strategies"]
            out = cls(float(d["initial_cash"]), int(strategies["momentum"]["lookback"]))
            for n, s in out.strategies.items():
                s.load(strategies[n])
            out.dates = [str(x) for x in d["dates"]]
            out.curves = {n: [float(v) for v in d["curves"][n]] for n in cls.NAMES}
        except KeyError as e:
            raise ValueError(f"baseline state is missing field {e.args[0]!r}") from None
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Baselines) and self.to_dict() == other.to_dict()
