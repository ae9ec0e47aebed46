"""POST /approvals over real HTTP: who may file (the run's own credential, no human role) and
hostile bodies (strict, bounded types), with nothing written when refused."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from backend.apps.agent_service.app import create_app
from backend.config import load_settings
from backend.schema.api_approvals import MAX_PRICE, MAX_QUANTITY
from backend.security.run_credentials import RUN_SECRET_ENV, run_token
from backend.security.tokens import Role, TokenRegistry, generate_registry
from tests.approvals.live_server import serve
from tests.approvals.stack import create_run

REGISTRY = generate_registry()
HUMANS = [Role.viewer, Role.operator, Role.admin]
HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def body(run_id: str = "r1", **changes: Any) -> dict[str, Any]:
    base = {"run_id": run_id, "date": "2025-02-03", "ticker": "MSFT", "action": "long", "quantity": 15,
            "price": 410.25, "confidence": 70.0, "reasoning": "momentum", "reasons": ["policy all"],
            "context": {"pm_reasoning": "momentum"}}
    base.update(changes)
    return base


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(http: httpx.Client, url: str, payload: Any, headers: dict[str, str]) -> httpx.Response:
    """POST ``payload`` as JSON, NaN and Infinity included (Python's json writes them; httpx's refuses)."""
    return http.post(url, content=json.dumps(payload), headers={**headers, "Content-Type": "application/json"})


def run_headers(run_id: str = "r1") -> dict[str, str]:
    return bearer(run_token(REGISTRY.run_secret, run_id))


def approvals_file(root: Path, run_id: str = "r1") -> Path:
    return root / "runs" / run_id / "state" / "approvals.jsonl"


def written(root: Path, run_id: str = "r1") -> list[dict[str, Any]]:
    path = approvals_file(root, run_id)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def serve_agent(root: Path, registry: TokenRegistry) -> Any:
    create_run(root, "r1", {"mode": "all", "timeout_seconds": 300})
    create_run(root, "r2", {"mode": "all", "timeout_seconds": 300})
    return serve(create_app(load_settings(runs_dir=root / "runs", workspaces_dir=root / "ws"), registry))


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("filing")
    with serve_agent(root, REGISTRY) as url, httpx.Client(base_url=url, timeout=10) as http:
        yield SimpleNamespace(root=root, http=http)


def no_secret_in(text: str) -> bool:
    return all(secret not in text for secret in [*REGISTRY.tokens.values(), REGISTRY.run_secret])


# -- who may file -------------------------------------------------------------------------

@pytest.mark.parametrize("role", HUMANS, ids=lambda r: r.name)
def test_no_human_token_can_file(agent, role):
    before = written(agent.root)
    answer = agent.http.post("/approvals", json=body(action="short", quantity=77, price=1.0),
                             headers=bearer(REGISTRY.tokens[role]))
    assert answer.status_code == 403, answer.text
    assert f"a {role.name} token cannot file" in answer.json()["detail"] and no_secret_in(answer.text)
    assert written(agent.root) == before


def test_a_run_credential_files_for_its_own_run_only(agent):
    other = agent.http.post("/approvals", json=body(run_id="r2", ticker="AAPL"), headers=run_headers("r1"))
    assert other.status_code == 403 and "not run 'r2'" in other.json()["detail"] and no_secret_in(other.text)
    assert written(agent.root, "r2") == []
    own = agent.http.post("/approvals", json=body(run_id="r2", ticker="AAPL"), headers=run_headers("r2"))
    assert own.status_code == 201 and own.json()["filed_by"] == "gateway"
    assert [line["kind"] for line in written(agent.root, "r2") if line["approval"]["ticker"] == "AAPL"] == ["filed"]


@given(token=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=80))
@HYPOTHESIS
def test_no_other_token_files(agent, token):
    answer = agent.http.post("/approvals", json=body(ticker="NVDA"), headers=bearer(token))
    assert answer.status_code in (401, 403) and no_secret_in(answer.text)
    assert not [line for line in written(agent.root) if line["approval"]["ticker"] == "NVDA"]


@given(a=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True),
       b=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True))
def test_a_run_token_is_valid_for_exactly_its_run(a, b):
    from backend.security.run_credentials import verify_run_token

    assert verify_run_token(REGISTRY.run_secret, a, run_token(REGISTRY.run_secret, b)) == (a == b)
    assert not verify_run_token(generate_registry().run_secret, a, run_token(REGISTRY.run_secret, a))


def test_anonymous_and_url_tokens_cannot_file(agent):
    assert agent.http.post("/approvals", json=body()).status_code == 401
    # A credential in a POST URL would end up in access logs: it is not read there.
    answer = agent.http.post("/approvals", json=body(), params={"token": run_token(REGISTRY.run_secret, "r1")})
    assert answer.status_code == 401 and not [x for x in written(agent.root) if x["approval"]["ticker"] == "MSFT"]


def test_without_a_run_secret_nobody_can_file(tmp_path):
    roles_only = TokenRegistry(dict(REGISTRY.tokens))
    with serve_agent(tmp_path, roles_only) as url:
        answer = httpx.post(f"{url}/approvals", json=body(), headers=run_headers(), timeout=10)
        admin = httpx.post(f"{url}/approvals", json=body(), headers=bearer(REGISTRY.tokens[Role.admin]), timeout=10)
    assert answer.status_code == 403 and RUN_SECRET_ENV in answer.json()["detail"]
    assert admin.status_code == 403 and written(tmp_path) == []


def test_open_mode_lets_loopback_file_as_the_open_gateway(tmp_path):
    # No token and no run secret configured: loopback clients are admin anyway (docs/approvals.md).
    with serve_agent(tmp_path, TokenRegistry()) as url:
        answer = httpx.post(f"{url}/approvals", json=body(), timeout=10)
    assert answer.status_code == 201 and answer.json()["filed_by"] == "gateway (open)"


def test_refiling_returns_the_same_order_and_refuses_another(agent):
    first = agent.http.post("/approvals", json=body(ticker="TSLA"), headers=run_headers())
    again = agent.http.post("/approvals", json=body(ticker="TSLA", reasoning="re-run"), headers=run_headers())
    assert (first.status_code, again.status_code) == (201, 200) and again.json()["id"] == first.json()["id"]
    injected = agent.http.post("/approvals", json=body(ticker="TSLA", action="short", quantity=77, price=1.0),
                               headers=run_headers())
    assert injected.status_code == 409 and "refused" in injected.json()["detail"]
    assert injected.json()["approval"]["action"] == "long" and injected.json()["approval"]["quantity"] == 15
    audit = agent.http.get("/runs/r1/approvals/audit", headers=bearer(REGISTRY.tokens[Role.viewer])).json()
    refused = [e for e in audit if e["event"] == "refused"]
    assert len(refused) == 1 and refused[0]["attempted"]["action"] == "short"
    assert refused[0]["attempted"]["quantity"] == 77 and refused[0]["after"] is None


# -- hostile bodies -----------------------------------------------------------------------

HOSTILE = [
    ("quantity", 2 ** 63), ("quantity", "5"), ("quantity", 0), ("quantity", -1), ("quantity", 5.0),
    ("quantity", True), ("quantity", None), ("quantity", MAX_QUANTITY + 1),
    ("price", 1e308), ("price", 0), ("price", -1.0), ("price", "1"), ("price", MAX_PRICE * 2),
    ("confidence", 101), ("confidence", -1), ("confidence", "high"),
    ("date", "2025-13-45"), ("date", "2025-02-30"), ("date", "20250203"), ("date", "2" * 100_000),
    ("ticker", "M" * 100_000), ("ticker", "msft"), ("ticker", ""), ("action", "buy"),
    ("run_id", "r" * 100_000), ("reasoning", "x" * 20_000), ("reasons", ["x"] * 1_000),
    ("reasons", ["x" * 5_000]), ("context", {"conference_summary": "x" * 60_000}),
    ("context", {"anything": "x" * 300_000}), ("context", {"signals": [{}] * 1_000}), ("notional", 1.0),
]


@pytest.mark.parametrize("field, value", HOSTILE, ids=[f"{f}-{str(v)[:12]}" for f, v in HOSTILE])
def test_a_hostile_field_is_422_naming_it_and_nothing_is_written(agent, field, value):
    before = written(agent.root)
    answer = agent.http.post("/approvals", json=body(**{field: value}), headers=run_headers())
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["detail"] and len(answer.text) < 5_000  # the value is not echoed back
    assert written(agent.root) == before


@pytest.mark.parametrize("field, literal", [("price", "NaN"), ("price", "Infinity"), ("price", "-Infinity"),
                                            ("confidence", "NaN"), ("quantity", "NaN"), ("quantity", "1e400")])
def test_non_finite_json_numbers_are_422(agent, field, literal):
    raw = json.dumps(body(**{field: "@@"})).replace('"@@"', literal)
    before = written(agent.root)
    answer = agent.http.post("/approvals", content=raw, headers={**run_headers(), "Content-Type": "application/json"})
    assert answer.status_code == 422 and field in answer.json()["detail"], answer.text
    assert written(agent.root) == before


bad_quantities = st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_QUANTITY + 1),
                           st.floats(), st.text(max_size=20), st.booleans(), st.none(),
                           st.lists(st.integers(), max_size=3))
bad_prices = st.one_of(st.floats(max_value=0), st.floats(min_value=MAX_PRICE, exclude_min=True),
                       st.just(math.nan), st.just(math.inf),
                       st.text(max_size=20), st.booleans())


@given(quantity=bad_quantities)
@HYPOTHESIS
def test_any_bad_quantity_is_refused(agent, quantity):
    before = written(agent.root)
    answer = post(agent.http, "/approvals", body(ticker="AMD", quantity=quantity), run_headers())
    assert answer.status_code == 422 and "quantity" in answer.json()["detail"]
    assert written(agent.root) == before


@given(price=bad_prices)
@HYPOTHESIS
def test_any_bad_price_is_refused(agent, price):
    before = written(agent.root)
    answer = post(agent.http, "/approvals", body(ticker="AMD", price=price), run_headers())
    assert answer.status_code == 422 and "price" in answer.json()["detail"]
    assert written(agent.root) == before


DAYS = itertools.count()


@given(quantity=st.integers(min_value=1, max_value=MAX_QUANTITY), price=st.floats(min_value=0.01, max_value=MAX_PRICE))
@HYPOTHESIS
def test_any_bounded_order_has_a_finite_notional_and_decides_cleanly(agent, quantity, price):
    date = (dt.date(2030, 1, 1) + dt.timedelta(days=next(DAYS))).isoformat()  # a fresh key per example
    answer = agent.http.post("/approvals", json=body(run_id="r2", ticker="GOOG", quantity=quantity, price=price,
                                                     date=date), headers=run_headers("r2"))
    assert answer.status_code == 201 and math.isfinite(answer.json()["notional"])
    decided = agent.http.post(f"/approvals/{answer.json()['id']}/decision", json={"decision": "approve"},
                              headers=bearer(REGISTRY.tokens[Role.operator]))
    assert decided.status_code == 200 and decided.json()["decided_quantity"] == quantity


# -- decision bodies ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def pending(agent) -> str:
    answer = agent.http.post("/approvals", json=body(ticker="META", quantity=20), headers=run_headers())
    assert answer.status_code == 201
    return answer.json()["id"]


# (No quantity at all means the filed one: a valid decision, so None is left out.)
@given(quantity=st.one_of(bad_quantities.filter(lambda q: q is not None),
                          st.integers(min_value=21, max_value=MAX_QUANTITY)))
@HYPOTHESIS
def test_a_decision_quantity_must_be_a_positive_int_at_most_the_filed_one(agent, pending, quantity):
    before = written(agent.root)
    answer = post(agent.http, f"/approvals/{pending}/decision", {"decision": "approve", "quantity": quantity},
                  bearer(REGISTRY.tokens[Role.operator]))
    assert answer.status_code in (400, 422) and "quantity" in answer.json()["detail"], answer.text
    assert written(agent.root) == before


@pytest.mark.parametrize("decision", [{"decision": "approve", "reason": "x" * 3_000},
                                      {"decision": "approve", "quantity": 5, "extra": 1},
                                      {"decision": "maybe"}, {"decision": "reject", "quantity": 5}])
def test_other_bad_decisions_are_4xx_and_leave_it_pending(agent, pending, decision):
    answer = agent.http.post(f"/approvals/{pending}/decision", json=decision,
                             headers=bearer(REGISTRY.tokens[Role.operator]))
    assert answer.status_code in (400, 422) and answer.json()["detail"]
    assert agent.http.get(f"/approvals/{pending}", headers=bearer(REGISTRY.tokens[Role.viewer])).json()["status"] \
        == "pending"


def test_a_run_credential_follows_its_own_runs_change_stream_only(agent):
    def status(params: dict[str, str], run_id: str = "r1") -> int:
        with agent.http.stream("GET", "/approvals/events", params=params, headers=run_headers(run_id)) as answer:
            return answer.status_code

    assert status({"run_id": "r1"}) == 200
    assert status({"run_id": "r2"}) == 401 and status({}) == 401  # another run's, or every run's
    # It reads nothing else either.
    assert agent.http.get("/approvals", params={"run_id": "r1"}, headers=run_headers()).status_code == 401
