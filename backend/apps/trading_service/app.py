"""trading_service: read-only trading data of any run, over :class:`TradingReader`.

No trading logic lives here: the routes validate their input, check the
viewer role and ask the reader, which reads the run's files as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from backend import __version__
from backend.apps.common import create_service_app, service_config
from backend.apps.trading_service import routes
from backend.readers.trading_reader import TradingReader
from backend.security.tokens import TokenRegistry
from backend.storage.run_store import RunStore

if TYPE_CHECKING:
    from backend.config import Settings


def create_app(settings: Settings | None = None, registry: TokenRegistry | None = None) -> FastAPI:
    settings, registry = service_config(settings, registry)
    app = create_service_app("trading_service", __version__, settings, registry,
                             description="Portfolio, holdings, trades, prices, curves, stats, metrics, "
                                         "leaderboard and signals of any run.")
    app.state.trading_reader = TradingReader(RunStore.from_settings(settings))
    app.include_router(routes.router)
    return app
