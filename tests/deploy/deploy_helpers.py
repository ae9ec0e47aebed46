"""Shared pieces of the deployment tests (paths, the compose file, the kustomization rendered)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBE_DIR = ROOT / "deploy" / "kubernetes"
COMPOSE_FILE = ROOT / "deploy" / "compose" / "compose.yaml"
IMAGE = os.environ.get("EVOTRADERS_IMAGE") or "evotraders/control-center:0.1.0"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}


def unavailable(reason: str) -> None:
    """Skip, or fail under EVOTRADERS_REQUIRE_DOCKER=1 (CI)."""
    if os.environ.get("EVOTRADERS_REQUIRE_DOCKER") == "1":
        pytest.fail(f"EVOTRADERS_REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(reason)

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
