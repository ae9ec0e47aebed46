"""Which saved file restarts what under `stack up --reload`, and who may ask a Gateway to restart."""

from __future__ import annotations

import pytest

from backend.paths import PROJECT_ROOT
from backend.stack.local_stack import SERVICES
from backend.supervisor.watch import ReloadMap
from gateway.commands import CommandError, parse_command

MODULES = {svc.name: svc.module for svc in SERVICES}


@pytest.fixture(scope="module")
def reload_map() -> ReloadMap:
    return ReloadMap(PROJECT_ROOT, MODULES)


@pytest.mark.parametrize("path, services, gateways", [
    ("backend/apps/agent_service/workspaces.py", {"agent"}, False),
    ("backend/apps/trading_service/app.py", {"trading"}, False),
    ("backend/apps/runtime_service/routes_runs.py", {"runtime"}, False),
    ("gateway/server.py", set(), True),
    ("backend/pipeline/day_loop.py", set(), True),
    # Shared code: every service importing it, and the Gateways at the day boundary.
    ("backend/apps/common/app.py", {"agent", "trading", "news", "runtime"}, True),
    ("backend/brand_new_module.py", {"agent", "trading", "news", "runtime"}, True),
    # Nothing a service or Gateway runs.
    ("app/qt/panels/stack.py", set(), False),
    ("tests/stack/test_reload.py", set(), False),
    ("backend/apps/agent_service/__pycache__/app.cpython-311.pyc", set(), False),
    ("backend/apps/agent_service/README.md", set(), False),
])
def test_a_saved_file_restarts_what_runs_it(reload_map: ReloadMap, path: str, services: set[str],
                                            gateways: bool) -> None:
    plan = reload_map.plan([PROJECT_ROOT / path])
    assert (set(plan.services), plan.gateways) == (services, gateways)
    assert bool(plan) == bool(services or gateways)


def test_agents_code_restarts_the_services_that_import_it_and_the_gateways(reload_map: ReloadMap) -> None:
    plan = reload_map.plan([PROJECT_ROOT / "backend" / "agents" / "memory.py"])
    assert plan.gateways and "agent" in plan.services and "trading" not in plan.services
    assert plan.describe().endswith("(backend/agents/memory.py)")


def test_without_an_import_graph_shared_code_restarts_everything() -> None:
    plan = ReloadMap(PROJECT_ROOT, MODULES, use_import_graph=False).plan([PROJECT_ROOT / "backend/schema/events.py"])
    assert set(plan.services) == set(MODULES) and plan.gateways


def test_a_burst_is_one_plan_naming_each_file_once(reload_map: ReloadMap) -> None:
    path = PROJECT_ROOT / "backend/apps/news_service/app.py"
    plan = reload_map.plan([path, path, PROJECT_ROOT / "gateway/hub.py", "/elsewhere/backend/x.py"])
    assert plan.paths == ("backend/apps/news_service/app.py", "gateway/hub.py")
    assert plan.services == {"news"} and plan.gateways


def test_only_an_admin_may_ask_a_gateway_to_restart() -> None:
    frame = {"type": "restart_at_day_boundary"}
    with pytest.raises(CommandError, match="restart_at_day_boundary requires the admin role; this connection "
                                           "is read-only"):
        parse_command(frame, read_only=True, is_admin=False)
    with pytest.raises(CommandError, match="restart_at_day_boundary restarts the Gateway and requires the admin role"):
        parse_command(frame, read_only=False, is_admin=False)
    assert parse_command(frame, read_only=False, is_admin=True).type == "restart_at_day_boundary"
