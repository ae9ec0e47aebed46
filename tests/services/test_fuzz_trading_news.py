"""Property-based fuzzing of trading_service and news_service from their own OpenAPI schemas.

Each service runs as a real process over a real backtest; schemathesis loads
the ``/openapi.json`` the live server serves, generates requests for every
operation, sends them, and checks that no answer is a 5xx and that every
answer matches the schema declared for its status code.

Each operation is fuzzed with everything generated (mostly unknown runs:
404), with schema-violating (negative) inputs (422), with the path pinned to
the real run (and a real trade) so that the query parameters reach the read
models, and with a schema-violating query on the real run. Bounded (``MAX_EXAMPLES``
per way and operation) and deterministic (derandomized, no example database).

The cases are driven by plain Hypothesis ``@given`` over
``operation.as_strategy()``: ``schemathesis.pytest.from_fixture`` does not run
under pytest 9 (it reads ``Function._nodeid``, which pytest 9 removed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.services.trading_news_support import Service, data_env, jsonl, make_backtest

VIEWER = "viewer-token-for-fuzzing-000"
AUTH = {"Authorization": f"Bearer {VIEWER}"}
MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, response_schema_conformance]
FUZZ_SETTINGS = settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    make_backtest(root, "x")
    return root


def _live_schema(service) -> schemathesis.BaseSchema:
    answer = httpx.get(f"{service.url}/openapi.json", headers=AUTH, timeout=10.0)
    assert answer.status_code == 200, answer.text
    return schemathesis.openapi.from_url(f"{service.url}/openapi.json", headers=AUTH)


def _fuzz(schema: schemathesis.BaseSchema, pinned: dict[str, Any], headers: dict[str, str] | None = None,
          only: Any = None) -> list[str]:
    """Fuzz every operation (or those ``only(operation)`` keeps); one line per operation and way that failed."""
    headers = headers or AUTH
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 3
    if only is not None:
        operations = [op for op in operations if only(op)]
        assert operations, "the filter kept no operation"
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        real_path = {k: v for k, v in pinned.items() if k in names}
        ways = [("generated", GenerationMode.POSITIVE, None)]
        if operation.path_parameters or operation.query:
            ways.append(("invalid", GenerationMode.NEGATIVE, None))
        if real_path:
            ways.append(("real run", GenerationMode.POSITIVE, real_path))
            if operation.query:  # with the path pinned, only the query is left to break
                ways.append(("real run, invalid query", GenerationMode.NEGATIVE, real_path))
        for label, mode, path_parameters in ways:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

            @FUZZ_SETTINGS
            @given(case=strategy)
            def run(case) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except (Exception, BaseExceptionGroup) as err:  # schemathesis' FailureGroup is a BaseExceptionGroup
                failures.append(f"{operation.label} [{label}]: {type(err).__name__}: {str(err)[:1500]}")
    return failures


def test_trading_service_never_fails_and_keeps_its_schema(data):
    with Service("trading_service", data_env(data, EVOTRADERS_VIEWER_TOKEN=VIEWER)) as service:
        failures = _fuzz(_live_schema(service), {"run_id": "x"})
        assert not failures, "\n".join(failures)


def test_news_service_never_fails_and_keeps_its_schema(data):
    trade = jsonl(data / "runs/x/state/trades.jsonl")[0]["id"]
    with Service("news_service", data_env(data, EVOTRADERS_VIEWER_TOKEN=VIEWER)) as service:
        failures = _fuzz(_live_schema(service), {"run_id": "x", "trade_id": trade})
        assert not failures, "\n".join(failures)
