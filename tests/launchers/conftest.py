"""Fixtures of the Gateway launcher tests: a tokened registry and a short paused run."""

from __future__ import annotations

import datetime as dt

import pytest

from backend.security.tokens import generate_registry
from tests.supervisor.conftest import no_leftover_children  # noqa: F401 - autouse: every Gateway process is gone


@pytest.fixture
def registry():
    """Container Gateways listen beyond loopback, so every launcher test runs with tokens."""
    return generate_registry()


def make_run(store, run_id: str = "launch-1") -> str:
    return store.create_run("default", run_id=run_id, overrides={
        "start_date": dt.date(2025, 3, 3), "end_date": dt.date(2025, 3, 7), "tickers": ["AAPL"]})
