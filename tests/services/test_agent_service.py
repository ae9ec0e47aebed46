"""agent_service over real HTTP: workspaces, files, BOOTSTRAP validation, agents, skills, memory, roles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error, response_schema_conformance

from backend.apps.agent_service.app import create_app
from backend.config import load_settings
from backend.security.tokens import generate_registry
from tests.approvals.live_server import serve
from tests.approvals.stack import create_run

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = generate_registry()
TOKENS = {role.name: tok for role, tok in REGISTRY.tokens.items()}
FUZZ_EXAMPLES = 40
BAD_TICKER_BOOTSTRAP = """---
mode: backtest
tickers: [AAPL, 'aapl!']
---
prompt
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("agent_service")
    # A real two-day backtest, so that the run has a team and reflections.
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOTRADERS_")}
    env.update(RUNS_DIR=str(root / "runs"), WORKSPACES_DIR=str(root / "ws"), SKILL_SANDBOX_MODE="none")
    subprocess.run([sys.executable, "-m", "backend.cli.main", "backtest", "--run-id", "bt", "--start", "2025-02-03",
                    "--end", "2025-02-05", "--tickers", "AAPL,MSFT"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    return root


@pytest.fixture(scope="module")
def url(root):
    settings = load_settings(runs_dir=root / "runs", workspaces_dir=root / "ws")
    with serve(create_app(settings, REGISTRY)) as base:
        yield base


def http(url: str, role: str | None = "admin") -> httpx.Client:
    headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30)


def test_health_needs_no_token(url):
    with http(url, None) as c:
        body = c.get("/health").json()
    assert body["status"] == "ok" and body["service"] == "agent_service"


def test_workspace_life_cycle(url, root):
    with http(url) as c:
        names = [w["name"] for w in c.get("/workspaces").json()]
        assert "default" in names
        created = c.post("/workspaces", json={"name": "alpha"})
        assert created.status_code == 201
        body = created.json()
        assert body["config"]["approval"]["mode"] == "none" and len(body["agents"]) == 6
        assert "BOOTSTRAP.md" in body["files"] and "agents/technical_analyst/AGENT.md" in body["files"]
        assert body["bootstrap"].startswith("---")
        assert c.post("/workspaces", json={"name": "alpha"}).status_code == 409
        assert c.post("/workspaces", json={"name": "beta", "source": "ghost"}).status_code == 404
        assert c.post("/workspaces", json={"name": "../evil"}).status_code == 400
        assert c.post("/workspaces", json={"nom": "x"}).status_code == 422

        row = next(w for w in c.get("/workspaces").json() if w["name"] == "alpha")
        assert row["mode"] == "backtest" and row["tickers"] and row["start_date"] and len(row["agents"]) == 6

        assert c.patch("/workspaces/alpha", json={"new_name": "default"}).status_code == 409
        renamed = c.patch("/workspaces/alpha", json={"new_name": "gamma"})
        assert renamed.status_code == 200 and renamed.json()["name"] == "gamma"
        assert c.get("/workspaces/alpha").status_code == 404
        copy = c.post("/workspaces/gamma/duplicate", json={"new_name": "delta"})
        assert copy.status_code == 201 and copy.json()["config"] == renamed.json()["config"]
        assert c.delete("/workspaces/delta").status_code == 204
        assert c.get("/workspaces/delta").status_code == 404
        assert c.delete("/workspaces/delta").status_code == 404
    assert not (root / "ws/delta").exists() and (root / "ws/gamma/BOOTSTRAP.md").is_file()


def test_files_read_write_and_bootstrap_validation(url, root):
    with http(url) as c:
        c.post("/workspaces", json={"name": "files"})
        original = c.get("/workspaces/files/files/BOOTSTRAP.md").json()
        assert original["path"] == "BOOTSTRAP.md" and "approval:" in original["text"]

        bad = c.put("/workspaces/files/files/BOOTSTRAP.md", json={"text": BAD_TICKER_BOOTSTRAP})
        assert bad.status_code == 422
        err = bad.json()
        assert err["line"] == 3 and err["field"] == "tickers" and "BOOTSTRAP.md:3" in err["detail"]
        assert "aapl!" in err["detail"]
        assert c.get("/workspaces/files/files/BOOTSTRAP.md").json()["text"] == original["text"]

        policy = original["text"].replace("\n  mode: none", "\n  mode: threshold")
        assert c.put("/workspaces/files/files/BOOTSTRAP.md", json={"text": policy}).status_code == 200
        assert c.get("/workspaces/files").json()["config"]["approval"]["mode"] == "threshold"

        persona = "---\nrole: technical_analyst\nskills: [technical_indicators]\n---\n# Chartist\n"
        assert c.put("/workspaces/files/files/agents/technical_analyst/AGENT.md",
                     json={"text": persona}).status_code == 200
        assert c.get("/workspaces/files/agents/technical_analyst").json()["persona"].strip() == "# Chartist"
        assert c.put("/workspaces/files/files/run.sh", json={"text": "rm -rf /"}).status_code == 400

        for path in ("..%2F..%2Fetc%2Fpasswd", "agents/..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd"):
            for method in ("GET", "PUT"):
                answer = c.request(method, f"/workspaces/files/files/{path}",
                                   json={"text": "x"} if method == "PUT" else None)
                assert answer.status_code == 400, (method, path, answer.text)
                assert answer.json()["error"]
        assert c.get("/workspaces/files/files/missing.md").status_code == 404
        assert c.get("/workspaces/files/files/agents").status_code == 404
        assert c.get("/workspaces/ghost/files/BOOTSTRAP.md").status_code == 404
    assert not (root / "ws/files/run.sh").exists()


def test_validate_endpoint_for_as_you_type(url):
    with http(url, "viewer") as c:
        ok = c.post("/bootstrap/validate", json={"text": "---\nmode: mock\n---\n"}).json()
        assert ok["ok"] is True and ok["error"] is None
        bad = c.post("/bootstrap/validate", json={"text": BAD_TICKER_BOOTSTRAP}).json()
        assert bad["ok"] is False
        assert bad["error"]["line"] == 3 and bad["error"]["field"] == "tickers"
        assert "invalid ticker" in bad["error"]["message"]
        unclosed = c.post("/bootstrap/validate", json={"text": "---\nmode: mock\n"}).json()
        assert unclosed["ok"] is False and "not closed" in unclosed["error"]["message"]
        yaml_error = c.post("/bootstrap/validate", json={"text": "---\nmode: [\n---\n"}).json()
        assert yaml_error["ok"] is False and yaml_error["error"]["line"]


def test_workspace_agents_and_skills(url):
    with http(url, "viewer") as c:
        team = c.get("/workspaces/default/agents").json()
        assert [a["id"] for a in team][:2] == ["fundamentals_analyst", "technical_analyst"]
        technical = next(a for a in team if a["id"] == "technical_analyst")
        assert technical["role"] == "technical_analyst" and technical["policy"] == "rules"
        assert technical["skills"] == ["technical_indicators"]
        profile = c.get("/workspaces/default/agents/technical_analyst").json()
        assert "Technical analyst" in profile["persona"]
        (skill,) = profile["skills"]
        assert skill["name"] == "technical_indicators" and skill["description"]
        assert skill["input_schema"]["type"] == "object" and skill["output_schema"]
        assert c.get("/workspaces/default/agents/nobody").status_code == 404
        assert c.get("/workspaces/ghost/agents").status_code == 404
        assert c.get("/workspaces/bad name!/agents").status_code == 400


def test_run_agents_profile_and_memory(url):
    with http(url, "viewer") as c:
        team = c.get("/runs/bt/agents").json()
        assert len(team) == 6
        pm = c.get("/runs/bt/agents/portfolio_manager").json()
        assert pm["role"] == "portfolio_manager" and len(pm["memory"]) == 3
        memory = c.get("/runs/bt/agents/portfolio_manager/memory", params={"limit": 2}).json()
        assert [m["date"] for m in memory] == ["2025-02-04", "2025-02-05"]  # newest last
        assert all(m["agent_id"] == "portfolio_manager" and m["content"] for m in memory)
        assert c.get("/runs/bt/agents/portfolio_manager/memory", params={"limit": 0}).status_code == 422
        assert c.get("/runs/bt/agents/nobody").status_code == 404
        assert c.get("/runs/bt/agents/nobody/memory").status_code == 404
        assert c.get("/runs/ghost/agents").status_code == 404
        assert c.get("/runs/bad id!/agents").status_code == 400


def test_roles(url):
    with http(url, None) as anonymous:
        assert anonymous.get("/workspaces").status_code == 401
    with http(url, "viewer") as viewer:
        assert viewer.get("/workspaces").status_code == 200
        assert viewer.post("/workspaces", json={"name": "v"}).status_code == 403
        assert viewer.delete("/workspaces/default").status_code == 403
    with http(url, "operator") as operator:
        assert operator.put("/workspaces/default/files/BOOTSTRAP.md", json={"text": "x"}).status_code == 403
        assert operator.patch("/workspaces/default", json={"new_name": "o"}).status_code == 403
    with httpx.Client(base_url=url, headers={"Authorization": "Bearer wrong-token-wrong-token"}) as wrong:
        assert wrong.get("/workspaces").status_code == 401


def test_fuzzed_requests_never_get_a_5xx_and_answers_match_the_schema(tmp_path):
    """schemathesis generates requests for every operation from the served OpenAPI document."""
    create_run(tmp_path, "x", {"mode": "all"})
    settings_ = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    auth = {"Authorization": f"Bearer {TOKENS['admin']}"}
    statuses: dict[int, int] = {}
    failures: list[str] = []
    with serve(create_app(settings_, REGISTRY)) as base:
        raw = httpx.get(f"{base}/openapi.json", headers=auth, timeout=10).json()
        raw["paths"].pop("/approvals/events")  # a stream never ends; test_approvals_api covers it
        schema = schemathesis.openapi.from_dict(raw)
        schema.location = f"{base}/openapi.json"
        for result in schema.get_all_operations():
            operation = result.ok()

            @hypothesis.settings(max_examples=FUZZ_EXAMPLES, derandomize=True, deadline=None, database=None,
                                 suppress_health_check=list(hypothesis.HealthCheck))
            @hypothesis.given(case=operation.as_strategy())
            def check(case):
                answer = case.call_and_validate(headers=auth, checks=[not_a_server_error,
                                                                      response_schema_conformance])
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

            try:
                check()
            except Exception as err:  # noqa: BLE001 - collect every operation's failure, then report
                failures.append(f"{operation.label}: {str(err)[:400]}")
    assert not failures, "\n".join(failures)
    assert statuses.get(200, 0) > 0 and not [code for code in statuses if code >= 500]
