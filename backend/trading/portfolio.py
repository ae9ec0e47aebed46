"""The team's cash-and-shares ledger: executes order decisions all or nothing.

Shorts follow the EvoTraders / ai-hedge-fund convention: the sale proceeds go
to ``cash`` and ``margin_requirement * notional`` of that cash is reserved in
``margin_used``; only ``cash - margin_used`` is free for buying, covering and
new margin (a cover may also spend the margin it releases). New margin never
comes from the short's own proceeds. Equity is ``cash + long value - short
liability`` at current prices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from backend.schema.trading import OrderDecision, Trade


@dataclass
class Position:
    """Shares held in one ticker; never long and short at the same time.

    ``short_margin`` is the cash reserved for this short, released in
    proportion as it is covered.
    """

    ticker: str
    long: int = 0
    long_avg: float = 0.0
    short: int = 0
    short_avg: float = 0.0
    short_margin: float = 0.0

    @property
    def net(self) -> int:
        return self.long - self.short

    @property
    def is_flat(self) -> bool:
        return self.long == 0 and self.short == 0


@dataclass(frozen=True)
class ExecutionResult:
    """What ``Portfolio.execute`` did: a trade, a rejection reason, or neither (hold)."""

    trade: Trade | None = None
    rejected: str | None = None

    @property
    def executed(self) -> bool:
        return self.trade is not None


def _money(x: float) -> str:
    return f"{x:,.2f}"


class Portfolio:
    """Cash, margin and positions of one team, with realized P&L and win rate.

    Args:
        cash: starting cash in USD (also remembered as ``initial_cash``).
        margin_requirement: fraction of a new short's notional reserved as margin.
    """

    def __init__(self, cash: float, margin_requirement: float = 0.0) -> None:
        if not (math.isfinite(cash) and cash >= 0):
            raise ValueError(f"portfolio cash must be a finite number >= 0, got {cash!r}")
        if not (math.isfinite(margin_requirement) and margin_requirement >= 0):
            raise ValueError(f"margin_requirement must be a finite number >= 0, got {margin_requirement!r}")
        self.initial_cash = float(cash)
        self.cash = float(cash)
        self.margin_requirement = float(margin_requirement)
        self.positions: dict[str, Position] = {}
        self.realized_pnl = 0.0
        self.closing_fills = 0
        self.winning_fills = 0
        self.trade_count = 0
        # Last execution price per ticker: values a holding when a caller's
        # price map lacks it (a halted ticker, a partial realtime snapshot).
        self.last_prices: dict[str, float] = {}

    # ----------------------------------------------------------- bookkeeping
    @property
    def margin_used(self) -> float:
        # fsum: exactly rounded, so the figure does not depend on dict order
        # (a restored portfolio must report the very same number).
        return math.fsum(p.short_margin for p in self.positions.values())

    @property
    def available_cash(self) -> float:
        return self.cash - self.margin_used

    @property
    def win_rate(self) -> float:
        return self.winning_fills / self.closing_fills if self.closing_fills else 0.0

    def net_quantity(self, ticker: str) -> int:
        pos = self.positions.get(ticker)
        return pos.net if pos else 0

    # ------------------------------------------------------------- execution
    def execute(
        self,
        decision: OrderDecision,
        price: float,
        trading_date: str,
        trade_id: str,
        timestamp_ms: int,
        approval_id: str | None = None,
    ) -> ExecutionResult:
        """Execute ``decision`` at ``price`` in full, or reject it and change nothing."""
        q = decision.quantity
        if decision.action == "hold" or q == 0:
            return ExecutionResult()
        t = decision.ticker
        raw = price
        try:
            price = float(price)
        except (TypeError, ValueError):
            price = math.nan
        if not (math.isfinite(price) and price > 0):
            return ExecutionResult(rejected=f"no valid price for {t}: got {raw!r}")
        # Built before any state changes, so bad ids or dates fail with nothing moved.
        trade = Trade(
            id=trade_id, ticker=t, action=decision.action,
            side="LONG" if decision.action == "long" else "SHORT", quantity=q, qty=q,
            price=price, timestamp=timestamp_ms, trading_date=trading_date,
            notional=q * price, approval_id=approval_id,
        )
        pos = self.positions.get(t) or Position(t)
        available = self.available_cash

        if decision.action == "long":
            cover = min(q, pos.short)
            buy = q - cover
            cost = q * price
            # Covering frees the margin posted for those shares, so it can pay
            # for them; "cost > cash" only guards against float dust.
            released = _released_margin(pos, cover)
            free = available + released
            if cost > free or cost > self.cash:
                verb = _order_words("covering", cover, "buying", buy)
                note = f" (including {_money(released)} margin released by the cover)" if released else ""
                return ExecutionResult(rejected=(
                    f"insufficient cash: {verb} {t} at {price:.2f} needs {_money(cost)}, "
                    f"cash available {_money(free)}{note}"))
            pnl = self._cover(pos, cover, price) if cover else None
            if buy:
                pos.long_avg = (pos.long * pos.long_avg + buy * price) / (pos.long + buy)
                pos.long += buy
            self.cash -= cost
        else:
            sell = min(q, pos.long)
            short = q - sell
            margin = self.margin_requirement * short * price
            # New margin must come from free cash (including what selling the
            # held longs frees), never from the short's own proceeds.
            free = available + sell * price
            if margin > 0 and margin > free:
                verb = _order_words("selling", sell, "shorting", short)
                return ExecutionResult(rejected=(
                    f"insufficient margin: {verb} {t} at {price:.2f} needs {_money(margin)} margin "
                    f"({self.margin_requirement:.0%} of {_money(short * price)}), "
                    f"cash available {_money(free)}{self._reserved_note()}"))
            pnl = None
            if sell:
                pnl = (price - pos.long_avg) * sell
                pos.long -= sell
                if pos.long == 0:
                    pos.long_avg = 0.0
            if short:
                pos.short_avg = (pos.short * pos.short_avg + short * price) / (pos.short + short)
                pos.short += short
                pos.short_margin += margin
            self.cash += q * price

        if pnl is not None:
            self.realized_pnl += pnl
            self.closing_fills += 1
            self.winning_fills += pnl > 0
        if pos.is_flat:
            self.positions.pop(t, None)
        else:
            self.positions[t] = pos
        self.last_prices[t] = price
        self.trade_count += 1
        return ExecutionResult(trade=trade)

    def _cover(self, pos: Position, cover: int, price: float) -> float:
        """Buy back ``cover`` shorted shares, releasing their share of margin; returns P&L."""
        pnl = (pos.short_avg - price) * cover
        released = _released_margin(pos, cover)
        if cover == pos.short:
            pos.short_margin = 0.0  # exactly, so no float dust stays reserved
            pos.short_avg = 0.0
        else:
            pos.short_margin -= released
        pos.short -= cover
        return pnl

    def _reserved_note(self) -> str:
        m = self.margin_used
        return f" ({_money(m)} of {_money(self.cash)} cash reserved as margin)" if m > 0 else ""

    # --------------------------------------------------------------- valuation
    def price_of(self, ticker: str, prices: Mapping[str, float]) -> float:
        """Current price of ``ticker``: from ``prices``, else the last execution price."""
        p = prices.get(ticker)
        if p is not None and math.isfinite(p) and p > 0:
            return float(p)
        if ticker in self.last_prices:
            return self.last_prices[ticker]
        raise KeyError(f"no price for held ticker {ticker}")

    def long_value(self, prices: Mapping[str, float]) -> float:
        return math.fsum(p.long * self.price_of(t, prices) for t, p in self.positions.items())

    def short_liability(self, prices: Mapping[str, float]) -> float:
        return math.fsum(p.short * self.price_of(t, prices) for t, p in self.positions.items())

    def equity(self, prices: Mapping[str, float]) -> float:
        return self.cash + self.long_value(prices) - self.short_liability(prices)

    def gross_exposure(self, prices: Mapping[str, float]) -> float:
        return self.long_value(prices) + self.short_liability(prices)

    def position_weight(self, ticker: str, prices: Mapping[str, float], equity: float | None = None) -> float:
        """Signed market value of ``ticker`` as a fraction of equity (0.0 when equity <= 0).

        ``equity``: ``self.equity(prices)`` when the caller has it already (one per ticker is O(n^2)).
        """
        net = self.net_quantity(ticker)
        if net == 0:
            return 0.0
        eq = self.equity(prices) if equity is None else equity
        return net * self.price_of(ticker, prices) / eq if eq > 0 else 0.0

    # -------------------------------------------------------------- dashboard
    def holdings_rows(self, prices: Mapping[str, float]) -> list[dict[str, Any]]:
        """``team_holdings`` rows: one per open position (by ticker), then ``CASH``."""
        eq = self.equity(prices)
        rows = []
        for t in sorted(self.positions):
            pos = self.positions[t]
            price = self.price_of(t, prices)
            mv = pos.net * price
            rows.append({
                "ticker": t, "quantity": pos.net,
                "avg": pos.long_avg if pos.long else pos.short_avg,
                "currentPrice": price, "marketValue": mv,
                "weight": mv / eq if eq > 0 else 0.0,
            })
        rows.append({
            "ticker": "CASH", "quantity": self.cash, "avg": 1.0, "currentPrice": 1.0,
            "marketValue": self.cash, "weight": self.cash / eq if eq > 0 else 0.0,
        })
        return rows

    def stats(self, prices: Mapping[str, float], total_trades: int | None = None) -> dict[str, Any]:
        """``team_stats`` data; ``totalReturn`` is a percentage, weights and win rate fractions."""
        eq = self.equity(prices)
        ret = (eq / self.initial_cash - 1.0) * 100.0 if self.initial_cash > 0 else 0.0
        return {
            "totalAssetValue": eq,
            "totalReturn": ret,
            "cashPosition": self.cash,
            "tickerWeights": {t: self.position_weight(t, prices, eq) for t in sorted(self.positions)},
            "marginUsed": self.margin_used,
            "totalTrades": self.trade_count if total_trades is None else total_trades,
            "winRate": self.win_rate,
        }

    # ------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state; ``from_dict`` restores it exactly (floats survive JSON)."""
        return {
            "initial_cash": self.initial_cash,
            "cash": self.cash,
            "margin_requirement": self.margin_requirement,
            # Position holds scalars only: a copy of its fields is a deep copy (asdict recurses, slowly).
            "positions": [dict(vars(self.positions[t])) for t in sorted(self.positions)],
            "realized_pnl": self.realized_pnl,
            "closing_fills": self.closing_fills,
            "winning_fills": self.winning_fills,
            "trade_count": self.trade_count,
            "last_prices": dict(sorted(self.last_prices.items())),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Portfolio:
        try:
            pf = cls(float(d["initial_cash"]), float(d["margin_requirement"]))
            pf.cash = float(d["cash"])
            pf.positions = {p["ticker"]: Position(**p) for p in d["positions"]}
            pf.realized_pnl = float(d["realized_pnl"])
            pf.closing_fills = int(d["closing_fills"])
            pf.winning_fills = int(d["winning_fills"])
            pf.trade_count = int(d["trade_count"])
            pf.last_prices = {str(k): float(v) for k, v in d["last_prices"].items()}
        except KeyError as e:
            raise ValueError(f"portfolio state is missing field {e.args[0]!r}") from None
        except TypeError as e:
            raise ValueError(f"portfolio state is malformed: {e}") from None
        return pf

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Portfolio) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return (f"Portfolio(cash={self.cash:.2f}, margin_used={self.margin_used:.2f}, "
                f"positions={len(self.positions)})")


def _released_margin(pos: Position, cover: int) -> float:
    """Margin freed by covering ``cover`` of ``pos.short`` shares (proportional)."""
    if cover <= 0 or pos.short == 0:
        return 0.0
    return pos.short_margin if cover >= pos.short else pos.short_margin * cover / pos.short


def _order_words(first: str, n1: int, second: str, n2: int) -> str:
    """'buying 120', 'covering 30', or 'covering 30 and buying 90'."""
    parts = [f"{w} {n}" for w, n in ((first, n1), (second, n2)) if n]
    return " and ".join(parts)
