"""Paging and filter helpers shared by the read models."""

from __future__ import annotations

import datetime as dt
from typing import Sequence, TypeVar

from backend.errors import BadRequestError
from backend.schema.api_trading import MAX_PAGE

T = TypeVar("T")
DEFAULT_PAGE = 100


def check_paging(offset: int, limit: int) -> None:
    if offset < 0:
        raise BadRequestError(f"offset must be 0 or more (got {offset})")
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequestError(f"limit must be between 1 and {MAX_PAGE} (got {limit})")


def page(items: Sequence[T], offset: int, limit: int) -> list[T]:
    """``items[offset:offset+limit]`` after checking both."""
    check_paging(offset, limit)
    return list(items[offset: offset + limit])


def check_range(start: dt.date | None, end: dt.date | None, what: str = "date range") -> None:
    if start is not None and end is not None and start > end:
        raise BadRequestError(f"{what}: start {start.isoformat()} is after end {end.isoformat()}")


def in_range(day: str, start: dt.date | None, end: dt.date | None) -> bool:
    """Whether an ISO date string lies in [start, end] (open ends allowed).

    ISO dates compare correctly as strings, which keeps filtering long lists cheap.
    """
    if start is not None and day < start.isoformat():
        return False
    if end is not None and day > end.isoformat():
        return False
    return True


def norm_ticker(ticker: str | None) -> str | None:
    """A ticker filter as the run stores it (upper case); empty means no filter."""
    if ticker is None:
        return None
    ticker = ticker.strip().upper()
    return ticker or None
