"""news_service: headlines and explanations of any run, over :class:`NewsReader` and :class:`Explainer`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from backend import __version__
from backend.apps.common import create_service_app, service_config
from backend.apps.news_service import routes
from backend.readers.event_index import EventIndexes
from backend.readers.explain import Explainer
from backend.readers.news_reader import NewsReader
from backend.readers.trade_log import TradeLogs
from backend.security.tokens import TokenRegistry
from backend.storage.run_store import RunStore

if TYPE_CHECKING:
    from backend.config import Settings


def create_app(settings: Settings | None = None, registry: TokenRegistry | None = None) -> FastAPI:
    settings, registry = service_config(settings, registry)
    app = create_service_app("news_service", __version__, settings, registry,
                             description="Headlines with sentiment from each run's market provider, and "
                                         "explanations of its trades and decisions from its events log.")
    store = RunStore.from_settings(settings)
    app.state.news_reader = NewsReader(store, settings)
    app.state.explainer = Explainer(store, EventIndexes(store), TradeLogs(store))
    app.include_router(routes.router)
    return app
