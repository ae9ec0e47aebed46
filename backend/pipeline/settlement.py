"""Settlement at the close: mark to market, baselines, curves, leaderboard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backend.schema import events as ev

if TYPE_CHECKING:
    from backend.pipeline.trading_pipeline import DayWork, TradingPipeline


def settle(pipe: "TradingPipeline", work: "DayWork") -> None:
    state = pipe.state
    date = work.date
    bars = {t: pipe.market.bar(t, date) for t in pipe.config.tickers}
    opens = {t: b.open for t, b in bars.items()}
    closes = {t: b.close for t, b in bars.items()}
    realized = {t: b.ret for t, b in bars.items()}
    state.prices = {t: {"price": round(b.close, 4), "open": round(b.open, 4), "ret": round(b.ret * 100.0, 6)}
                    for t, b in bars.items()}
    caps = {}
    for t in pipe.config.tickers:
        f = work.snapshot.fundamentals.get(t)
        if f is not None and f.shares_outstanding > 0:
            caps[t] = f.shares_outstanding * opens[t]
    history = {t: [b.close for b in work.snapshot.bars.get(t, [])] for t in pipe.config.tickers}
    base_values = state.baselines.on_day(work.iso, opens, closes, history, caps or None)
    equity = state.portfolio.equity(closes)
    t_ms = pipe.clock.close_ms(date)
    state.add_curve_point("equity", t_ms, equity)
    for name in ("baseline", "baseline_vw", "momentum"):
        state.add_curve_point(name, t_ms, base_values[name])
    work.hit_rates = state.leaderboard.score(work.predictions, realized)  # type: ignore[attr-defined]

    pnl_pct = (equity / state.initial_cash - 1.0) * 100.0
    # model_construct: the curves are built here, point by point, and are
    # already valid; re-validating thousands of points a day is the slowest
    # part of a long backtest.
    pipe.emit(ev.TeamSummary.model_construct(
        balance=round(equity, 2), pnlPct=round(pnl_pct, 4), totalAssetValue=round(equity, 2),
        equity=state.curves["equity"], baseline=state.curves["baseline"],
        baseline_vw=state.curves["baseline_vw"], momentum=state.curves["momentum"],
        equity_return=state.return_curve("equity"), baseline_return=state.return_curve("baseline"),
        baseline_vw_return=state.return_curve("baseline_vw"), momentum_return=state.return_curve("momentum"),
    ))
    pipe.emit(ev.TeamStats(data=state.portfolio.stats(closes, state.trade_count)))
    pipe.emit(ev.TeamLeaderboard(data=state.leaderboard.rows()))
    stamp = pipe.clock.iso(pipe.clock.ts("settlement"))
    for t, p in state.prices.items():
        pipe.emit(ev.PriceUpdate(symbol=t, price=p["price"], open=p["open"], ret=p["ret"], timestamp=stamp,
                                 realtime_prices=state.prices))
