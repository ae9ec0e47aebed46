"""The remote desk against the compose deployment on the real Docker engine.

One compose project for the session (``tests/support/compose_deployment.py``:
the image's four service containers, ports published on free ports of
127.0.0.1, fresh tokens); runtime_service's docker launcher starts the run's
Gateway as a container whose published port is the URL it returns. The desk
talks to containers only through those published ports, given nothing but
the four URLs and a token (see ``desk_scenario``). Teardown leaves no
container, network or volume of the project (asserted by the helper).
Without an engine the test skips, unless ``EVOTRADERS_REQUIRE_DOCKER=1``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from app.session import Session
from tests.remote import desk_scenario as scenario
from tests.remote.remote_flow import COMPOSE_OVERRIDES, start_held_run
from tests.support.compose_deployment import compose_deployment, docker_or_skip, gateway_containers

pytestmark = [pytest.mark.slow, pytest.mark.docker]


@pytest.fixture(scope="session")
def deployment():
    docker_or_skip()
    with compose_deployment("evoremote", COMPOSE_OVERRIDES) as running:
        yield running


def test_viewer_follows_the_gateway_container_operator_approves_viewer_replays(qtbot, arun, deployment):
    async def flow() -> None:
        gateway = await start_held_run(deployment, "compose-1")
        # The Gateway is a container of the deployment, reached at the port docker published on 127.0.0.1.
        assert urlsplit(gateway["url"]).hostname == "127.0.0.1" and gateway["pid"] is None, gateway
        assert all(urlsplit(url).hostname == "127.0.0.1" for url in deployment.urls.values())
        assert len(gateway_containers(deployment.project, "compose-1")) == 1
        viewer = Session(health_interval=0.5)
        operator = Session(health_interval=0.5)
        viewer_window = scenario.window_for(qtbot, viewer)
        operator_window = scenario.window_for(qtbot, operator)
        try:
            await scenario.attach(viewer, deployment, "viewer", "compose-1")
            await scenario.viewer_is_read_only_and_refused(qtbot, viewer_window, viewer, deployment, "compose-1",
                                                           gateway["url"])
            await scenario.attach(operator, deployment, "operator", "compose-1")
            approved = await scenario.operator_approves(qtbot, operator_window, operator, "compose-1")
            await scenario.run_completes(deployment, "compose-1")
            live = viewer_window.panel("live")
            await scenario.until(lambda: {t.approval_id for t in live.model.trades} & set(approved), timeout=30,
                                 what="the approved trades in the viewer's Live panel")
            await scenario.history_lists_and_replays(viewer_window, "compose-1", approved)
            await scenario.switching_down_never_keeps_the_role(operator_window, operator, deployment, "compose-1")
        finally:
            await viewer_window.shutdown()
            await operator_window.shutdown()
            await viewer.close()
            await operator.close()

    arun(flow(), timeout=400)
