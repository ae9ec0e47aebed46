"""Settlement at the close: mark to market, baselines, curves, leaderboard."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from pydantic import TypeAdapter
from pydantic_core import to_json

from backend.schema import events as ev
from backend.schema.state import LeaderboardRow, LeaderboardSignal, PriceQuote

if TYPE_CHECKING:
    from backend.pipeline.run_state import RunState
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
    history = PastCloses(work.snapshot.bars, pipe.config.tickers)
    base_values = state.baselines.on_day(work.iso, opens, closes, history, caps or None)
    equity = state.portfolio.equity(closes)
    previous = state.curves["equity"][-1]["v"] if state.curves["equity"] else state.initial_cash
    t_ms = pipe.clock.close_ms(date)
    state.add_curve_point("equity", t_ms, equity)
    for name in ("baseline", "baseline_vw", "momentum"):
        state.add_curve_point(name, t_ms, base_values[name])
    work.hit_rates = state.leaderboard.score(work.predictions, realized)  # type: ignore[attr-defined]
    state.leaderboard.mark_day(equity - previous, len(work.risk.warnings) if work.risk is not None else 0)

    pnl_pct = (equity / state.initial_cash - 1.0) * 100.0
    # Holdings at the close, as the run's state (server_state.json, initial_state) has them.
    pipe.emit(ev.TeamHoldings(data=state.portfolio.holdings_rows(state.last_prices())))
    pipe.emit(team_summary(state, round(equity, 2), round(pnl_pct, 4)))
    pipe.emit(ev.TeamStats(data=state.portfolio.stats(closes, state.trade_count)))
    pipe.emit(leaderboard_event(pipe, state.leaderboard.rows()))
    stamp = pipe.clock.iso(pipe.clock.ts("settlement"))
    # Every ticker's update carries every quote: validated once, shared by the
    # day's updates (never changed: tomorrow's prices are new models), encoded once.
    quotes = _QUOTES.validate_python(state.prices)
    updates = [ev.PriceUpdate(symbol=t, price=q.price, open=q.open, ret=q.ret, timestamp=stamp,
                              realtime_prices=quotes) for t, q in quotes.items()]
    share_quotes_encoding(updates)
    for update in updates:
        pipe.emit(update)


_QUOTES_KEY = ',"realtime_prices":'
# The day's quotes validated in one call (the same models as PriceQuote(**p) each, in the same order).
_QUOTES = TypeAdapter(dict[str, PriceQuote])
# The day's new leaderboard calls, validated in one call (each the model LeaderboardSignal(**call) is).
_SIGNALS = TypeAdapter(list[LeaderboardSignal])


class PastCloses(Mapping[str, list[float]]):
    """The closes before the day per ticker, as the baselines read them (``history_closes``),
    each list made when asked: only momentum's monthly rebalance reads them, so most days
    make none (they were a list of a year of closes per ticker, every day).
    """

    def __init__(self, bars: Mapping[str, list], tickers: list[str]) -> None:
        self._bars = bars
        self._tickers = tickers

    def __getitem__(self, ticker: str) -> list[float]:
        if ticker not in self._tickers:
            raise KeyError(ticker)
        return [b.close for b in self._bars.get(ticker, [])]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tickers)

    def __len__(self) -> int:
        return len(self._tickers)


def share_quotes_encoding(updates: list[ev.PriceUpdate]) -> None:
    """Encode the day's quotes once for all its price updates, which carry the same
    ``realtime_prices`` (its encoding was most of each update's).

    The first update is encoded in full; the others are their own fields
    followed by the quotes as encoded there. If the first one's text is not
    its fields followed by the quotes (the schema changed), every update is
    left to encode itself.
    """
    if len(updates) < 2:
        return
    first = updates[0].wire_json()
    head = _head(updates[0])
    if not (first.startswith(head) and first.endswith("}")):
        return
    tail = first[len(head):]  # ',"realtime_prices":{...}}'
    for update in updates[1:]:
        update.preset_wire_json(_head(update) + tail)


def _head(update: ev.PriceUpdate) -> str:
    # The update's encoding up to its last field, realtime_prices (as wire_json encodes it, its
    # null fields left out), then the key of the quotes.
    skip = {name for name, value in update.__dict__.items() if value is None}
    skip.add("realtime_prices")
    raw = update.__pydantic_serializer__.to_json(update, exclude=skip).decode()
    return raw[:-1] + _QUOTES_KEY


def leaderboard_rows(pipe: "TradingPipeline", rows: list[dict]) -> list[dict]:
    """The leaderboard's rows with each recent signal as its model, validated once.

    An analyst's last ``RECENT_SIGNALS`` calls ride every day's
    ``team_leaderboard``; a call never changes once scored (the leaderboard
    appends a new dict per call and shares it with its rows), so its model
    is kept, by the identity of its dict, while it is among them instead of
    being validated again every day (the event is valid either way: a model
    instance is taken as it is). Each entry holds its dict, so no other dict
    can take its id meanwhile.
    """
    known: dict[int, tuple[dict, LeaderboardSignal]] = pipe.signal_models
    kept: dict[int, tuple[dict, LeaderboardSignal]] = {}
    new_calls = []
    for row in rows:
        for signal in row.get("signals") or ():
            entry = known.get(id(signal))
            if entry is None or entry[0] is not signal:
                new_calls.append(signal)
            else:
                kept[id(signal)] = entry
    # The day's new calls in one validation (a model each, as LeaderboardSignal(**call) makes it).
    for signal, model in zip(new_calls, _SIGNALS.validate_python(new_calls)):
        kept[id(signal)] = (signal, model)
    pipe.signal_models = kept
    return [{**row, "signals": [kept[id(signal)][1] for signal in row["signals"]]} if row.get("signals") else row
            for row in rows]


def leaderboard_event(pipe: "TradingPipeline", rows: list[dict]) -> ev.TeamLeaderboard:
    """The day's ``team_leaderboard``, its wire JSON encoded from the rows themselves.

    The rows are already what the event's encoding writes: the fields of
    :class:`LeaderboardRow` in its order, of its types (rounded floats, ints,
    a call's ``is_correct`` true, false or null, a team row's ``rank`` null),
    so encoding the dicts gives the same text as encoding the validated event
    (a third of the time: the models' serializers, one per row and call, are
    most of it). Rows of any other shape (a row carrying a key the model does
    not name, say) leave the event to encode itself.
    tests/pipeline/test_leaderboard_models.py checks the two agree on
    generated leaderboards; tests/pipeline/test_wire_encoding.py on every
    event of a run.
    """
    event = ev.TeamLeaderboard(data=leaderboard_rows(pipe, rows))
    if all(row.keys() <= _ROW_FIELDS for row in rows):
        event.preset_wire_json('{"type":"team_leaderboard","data":' + to_json(rows).decode() + "}")
    return event


_ROW_FIELDS = frozenset(LeaderboardRow.model_fields)


def team_summary(state: "RunState", equity: float, pnl_pct: float) -> ev.TeamSummary:
    """The day's ``team_summary``: its new curve points (``append``), and attached the replacing
    form, each curve bounded to ``BOUNDED_CURVE_POINTS`` (see :class:`backend.schema.events.TeamSummary`).

    The replacing form is built with ``model_construct``: its points were
    made here and are valid; validating them again (up to
    ``BOUNDED_CURVE_POINTS`` a curve) would be most of the day's cost. The
    incremental form holds a point a curve: validating it is cheaper than
    ``model_construct`` (Python-level, field by field) and gives the same
    model. Neither grows with the run's length.
    """
    curves = state.curves
    index = len(curves["equity"]) - 1
    figures = {"balance": equity, "pnlPct": pnl_pct, "totalAssetValue": equity}
    fresh = {name: curves[name][index:] for name in state.curves}
    bounded = {name: view.points() for name, view in state.bounded.items()}
    return ev.TeamSummary(**figures, **fresh, append=True, index=index).with_replacing_form(
        ev.TeamSummary.model_construct(**figures, **bounded))
