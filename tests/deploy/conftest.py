"""Fixtures for the deployment tests: the real engine, the image built offline, the manifests.

Without a Docker engine (or the compose CLI) the engine tests skip with the
reason, except under ``EVOTRADERS_REQUIRE_DOCKER=1`` (CI), where they fail.
Nothing is ever pulled: the image is built by scripts/build_image.sh (cached
by its content-hash label, so only the first session of a source tree pays).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from deploy_helpers import IMAGE, ROOT, unavailable

BUILD_TIMEOUT_S = 1200


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client of the engine at DOCKER_HOST, or a skip (a failure under EVOTRADERS_REQUIRE_DOCKER=1)."""
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as err:  # noqa: BLE001 - every reason means "no engine here"
        unavailable(f"no Docker engine answers at DOCKER_HOST={os.environ.get('DOCKER_HOST', '(unset)')} "
                     f"({type(err).__name__})")
    yield client
    client.close()


@pytest.fixture(scope="session")
def image(docker_client: Any) -> str:
    """evotraders/control-center, built offline from this tree by scripts/build_image.sh."""
    result = subprocess.run(["bash", str(ROOT / "scripts" / "build_image.sh")], capture_output=True, text=True,
                            timeout=BUILD_TIMEOUT_S, cwd=ROOT)
    assert result.returncode == 0, f"scripts/build_image.sh failed:\n{result.stderr[-3000:]}"
    assert result.stdout.strip().splitlines()[-1] == IMAGE
    built = docker_client.images.get(IMAGE)
    assert built.labels.get("io.evotraders.content-hash"), "the image carries no content hash label"
    return IMAGE


@pytest.fixture(scope="session")
def compose_cli() -> list[str]:
    from backend.cli.deploy import DeployError, compose_command

    try:
        return compose_command()
    except DeployError as err:
        unavailable(str(err))
        raise
