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
        await scenario.viewer_and_operator(qtbot, deployment, "compose-1", gateway["url"])

    arun(flow(), timeout=400)
