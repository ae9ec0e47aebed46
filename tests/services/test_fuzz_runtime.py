"""Property-based fuzzing of runtime_service from its own OpenAPI schema (a real process).

As a viewer, so fuzzing never spawns Gateways: reads must keep their schema,
mutations must answer 401/403 or a 4xx for the input, never a 5xx.
"""

from __future__ import annotations

from tests.services.test_fuzz_trading_news import VIEWER, _fuzz, _live_schema
from tests.services.trading_news_support import Service, data_env, make_backtest


def test_runtime_service_never_fails_and_keeps_its_schema(tmp_path):
    make_backtest(tmp_path, "x")
    env = data_env(tmp_path, EVOTRADERS_VIEWER_TOKEN=VIEWER, EVOTRADERS_ADMIN_TOKEN="admin-token-for-fuzzing-00")
    with Service("runtime_service", env) as service:
        failures = _fuzz(_live_schema(service), {"run_id": "x"})
        assert not failures, "\n".join(failures)
