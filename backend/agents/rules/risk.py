"""Rules policy of the risk manager: turn the risk skill's output into limits."""

from __future__ import annotations

from typing import Any

from backend.schema.trading import RiskLimits, RiskReport


def risk_report(date: str, output: dict[str, Any], tickers: list[str], equity: float) -> RiskReport:
    """Limits for every ticker; a ticker the skill could not assess gets a 5 % limit."""
    limits = []
    for ticker in tickers:
        entry = output.get("tickers", {}).get(ticker)
        if entry is None:
            limits.append(RiskLimits(ticker=ticker, max_position_value=round(equity * 0.05, 2), volatility=0.0,
                                     warnings=[f"{ticker}: not enough history, limit kept at 5 % of equity"]))
        else:
            limits.append(RiskLimits(ticker=ticker, max_position_value=entry["max_position_value"],
                                     volatility=entry["volatility"], warnings=list(entry["warnings"])))
    portfolio = output.get("portfolio", {})
    warnings = list(portfolio.get("warnings", []))
    for lim in limits:
        warnings.extend(lim.warnings)
    return RiskReport(date=date, limits=limits, gross_exposure=portfolio.get("gross_exposure", 0.0),
                      warnings=warnings)


def describe(report: RiskReport) -> str:
    head = f"Gross exposure {report.gross_exposure:.2f}x equity. Limits: " + ", ".join(
        f"{lim.ticker} {lim.max_position_value:,.0f} (vol {lim.volatility:.0%})" for lim in report.limits)
    if report.warnings:
        return head + ". Warnings: " + "; ".join(report.warnings)
    return head + ". No warnings."
