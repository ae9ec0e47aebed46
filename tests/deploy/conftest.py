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
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBE_DIR = ROOT / "deploy" / "kubernetes"
COMPOSE_FILE = ROOT / "deploy" / "compose" / "compose.yaml"
IMAGE = os.environ.get("EVOTRADERS_IMAGE") or "evotraders/control-center:0.1.0"
BUILD_TIMEOUT_S = 1200


def _unavailable(reason: str) -> None:
    if os.environ.get("EVOTRADERS_REQUIRE_DOCKER") == "1":
        pytest.fail(f"EVOTRADERS_REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client of the engine at DOCKER_HOST, or a skip (a failure under EVOTRADERS_REQUIRE_DOCKER=1)."""
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as err:  # noqa: BLE001 - every reason means "no engine here"
        _unavailable(f"no Docker engine answers at DOCKER_HOST={os.environ.get('DOCKER_HOST', '(unset)')} "
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
        _unavailable(str(err))
        raise


def compose_services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]


def kustomize_render() -> list[dict[str, Any]]:
    """What `kubectl apply -k deploy/kubernetes` applies: the listed resources, in the kustomization's namespace.

    (kubectl is not installed here; this kustomization uses only ``resources`` and ``namespace``,
    which is all this renders: any other field fails the test instead of being ignored.)
    """
    kustomization = yaml.safe_load((KUBE_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    unsupported = set(kustomization) - {"apiVersion", "kind", "namespace", "resources"}
    assert not unsupported, f"kustomization fields this renderer does not apply: {sorted(unsupported)}"
    namespace = kustomization.get("namespace")
    docs: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        path = KUBE_DIR / resource
        assert path.is_file(), f"kustomization lists {resource}, which does not exist"
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not doc:
                continue
            if namespace and doc["kind"] not in CLUSTER_SCOPED:
                doc.setdefault("metadata", {})["namespace"] = namespace
            docs.append(doc)
    return docs


CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}
