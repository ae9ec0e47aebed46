"""The remote desk against a real local stack started with tokens.

The four services are subprocesses on free ports of 127.0.0.1 with generated
viewer/operator/admin tokens; runtime_service spawns the run's Gateway. The
desk is given only the service URLs and a token (see ``desk_scenario``).
"""

from __future__ import annotations

import pytest

from backend.config import load_settings
from backend.security.tokens import Role
from backend.stack.local_stack import LocalStack
from tests.remote import desk_scenario as scenario
from tests.remote.remote_flow import Deployment, start_held_run

pytestmark = pytest.mark.slow


@pytest.fixture
def tokened_stack(arun, tmp_path):
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    stack = LocalStack(settings, state_dir=tmp_path / ".stack", ports={name: 0 for name in scenario.SERVICES})
    assert stack.tokens.configured
    arun(stack.up(), timeout=90)
    try:
        yield Deployment("local stack", dict(stack.urls), {role.name: stack.tokens.tokens[role] for role in Role})
    finally:
        arun(stack.down(), timeout=60)


def test_viewer_follows_is_refused_operator_approves_viewer_replays(qtbot, arun, tokened_stack):
    deployment = tokened_stack

    async def flow() -> None:
        gateway = await start_held_run(deployment, "remote-1")
        await scenario.viewer_and_operator(qtbot, deployment, "remote-1", gateway["url"])

    arun(flow(), timeout=400)
