"""Property-based fuzzing of runtime_service from its own OpenAPI schema (a real process).

As a viewer, so fuzzing never spawns Gateways: reads must keep their schema,
mutations must answer 401/403 or a 4xx for the input, never a 5xx. Then as
an operator on the routes relayed to a Gateway (pause, resume, pace), which
an operator reaches: unknown runs, bad bodies and a run without a Gateway
must be 4xx too.
"""

from __future__ import annotations

from tests.services.test_fuzz_trading_news import VIEWER, _fuzz, _live_schema
from tests.services.trading_news_support import Service, data_env, make_backtest

OPERATOR = "operator-token-for-fuzzing-0"


def test_runtime_service_never_fails_and_keeps_its_schema(tmp_path):
    make_backtest(tmp_path, "x")
    env = data_env(tmp_path, EVOTRADERS_VIEWER_TOKEN=VIEWER, EVOTRADERS_ADMIN_TOKEN="admin-token-for-fuzzing-00",
                   EVOTRADERS_OPERATOR_TOKEN=OPERATOR)
    with Service("runtime_service", env) as service:
        schema = _live_schema(service)
        failures = _fuzz(schema, {"run_id": "x"})
        failures += _fuzz(schema, {"run_id": "x"}, headers={"Authorization": f"Bearer {OPERATOR}"},
                          only=lambda op: op.path.endswith(("/pause", "/resume", "/pace")))
        assert not failures, "\n".join(failures)
