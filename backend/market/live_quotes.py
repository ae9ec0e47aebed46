"""LiveQuotes: intraday quotes from a Finnhub-style ``/quote`` endpoint.

``GET {base_url}/quote?symbol=AAPL&token=KEY`` answers
``{"c": current, "d": change, "dp": change_pct, "h": high, "l": low,
"o": open, "pc": previous close, "t": epoch seconds}``. Finnhub answers
``c == 0`` for symbols it does not know, so that is reported as an error.
The API key never appears in an error message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from typing import TYPE_CHECKING

import httpx

from backend.market.base import MarketDataError, Tick

if TYPE_CHECKING:
    from backend.config import Settings

DEFAULT_BASE_URL = "https://finnhub.io/api/v1"


def require_live_config(settings: Settings) -> str:
    """The Finnhub API key from ``settings``; a one-line MarketDataError when unset."""
    key = getattr(settings, "finnhub_api_key", None)
    if not key or not str(key).strip():
        raise MarketDataError("live mode needs FINNHUB_API_KEY; set it or use mode backtest/mock")
    return str(key).strip()


class LiveQuotes:
    """Polls current quotes for a set of tickers, all at once.

    Args:
        api_key: the Finnhub token (sent as the ``token`` query parameter).
        tickers: the symbols ``poll`` asks for.
        base_url: the API root, e.g. a local recorder in tests.
        client: an httpx.AsyncClient to reuse; one is created (and owned) if None.
        timeout: seconds per request.
        max_retries: further attempts after an HTTP 429 before giving up.
        backoff: first wait after a 429 in seconds (doubles per retry; a
            ``Retry-After`` header wins when it is shorter than 60 s).
    """

    def __init__(self, api_key: str, tickers: list[str], base_url: str = DEFAULT_BASE_URL,
                 client: httpx.AsyncClient | None = None, timeout: float = 5.0,
                 max_retries: int = 3, backoff: float = 1.0) -> None:
        if not api_key:
            raise MarketDataError("live mode needs FINNHUB_API_KEY; set it or use mode backtest/mock")
        self.tickers = list(tickers)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self._key = api_key
        self._client = client
        self._owns_client = client is None
        self.rate_limited = 0          # how many 429 answers were met (for status displays)

    async def __aenter__(self) -> "LiveQuotes":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    async def poll(self) -> dict[str, Tick]:
        """Quotes of every ticker, fetched concurrently; raises the first error (auth errors first)."""
        results = await asyncio.gather(*(self.quote(t) for t in self.tickers), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            auth = [e for e in errors if "rejected FINNHUB_API_KEY" in str(e)]
            raise (auth or errors)[0]
        return {tick.ticker: tick for tick in results}  # type: ignore[union-attr]

    async def quote(self, ticker: str) -> Tick:
        """One ticker's quote, retrying with back-off on HTTP 429."""
        url = f"{self.base_url}/quote"
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            try:
                response = await self._http().get(
                    url, params={"symbol": ticker, "token": self._key}, timeout=self.timeout)
            except httpx.TimeoutException:
                raise MarketDataError(f"Finnhub quote for {ticker} timed out after {self.timeout:g} s") from None
            except httpx.HTTPError as err:
                raise MarketDataError(
                    f"cannot reach Finnhub at {self.base_url}: {type(err).__name__}") from None
            if response.status_code in (401, 403):
                raise MarketDataError(f"Finnhub rejected FINNHUB_API_KEY (HTTP {response.status_code})")
            if response.status_code == 429:
                self.rate_limited += 1
                if attempt == self.max_retries:
                    break
                await asyncio.sleep(self._retry_after(response, delay))
                delay *= 2
                continue
            if response.status_code != 200:
                raise MarketDataError(f"Finnhub quote for {ticker} failed (HTTP {response.status_code})")
            return self._parse(ticker, response.content)
        raise MarketDataError(
            f"Finnhub rate limit (HTTP 429) for {ticker} persisted after {self.max_retries + 1} attempts; "
            "poll less often or upgrade the API plan")

    @staticmethod
    def _retry_after(response: httpx.Response, default: float) -> float:
        try:
            value = float(response.headers.get("Retry-After", ""))
        except ValueError:
            return default
        return value if 0 <= value < 60 else default

    @staticmethod
    def _parse(ticker: str, body: bytes) -> Tick:
        try:
            data = json.loads(body)
        except ValueError:
            raise MarketDataError(f"Finnhub quote for {ticker}: response is not JSON") from None
        if not isinstance(data, dict):
            raise MarketDataError(f"Finnhub quote for {ticker}: expected a JSON object, got {type(data).__name__}")

        def number(field: str, required: bool = True) -> float:
            value = data.get(field)
            if value is None and not required:
                return 0.0
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                what = "missing" if value is None else f"not a number ({value!r})"
                raise MarketDataError(f"Finnhub quote for {ticker}: field '{field}' is {what}")
            return float(value)

        price = number("c")
        if price <= 0:
            raise MarketDataError(
                f"Finnhub quote for {ticker}: field 'c' is {price:g} (unknown symbol or no trades yet)")
        stamp = number("t", required=False)
        when = dt.datetime.fromtimestamp(stamp, dt.timezone.utc) if stamp > 0 else dt.datetime.now(dt.timezone.utc)
        return Tick(ticker=ticker, time=when, price=price,
                    open=number("o", required=False) or price, prev_close=number("pc", required=False) or price)
