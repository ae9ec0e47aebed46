"""deploy/kubernetes/: every object parses into the official client's models
(no unknown or mistyped field) and agrees with the code that relies on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from backend.config import Settings
from backend.sandbox.kubernetes_backend import SANDBOX_LABEL

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
MODELS = {"Namespace": "V1Namespace", "NetworkPolicy": "V1NetworkPolicy", "ServiceAccount": "V1ServiceAccount",
          "Role": "V1Role", "RoleBinding": "V1RoleBinding", "PersistentVolumeClaim": "V1PersistentVolumeClaim",
          "ConfigMap": "V1ConfigMap", "Deployment": "V1Deployment", "Service": "V1Service", "Job": "V1Job"}


def documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def lost_fields(original: Any, kept: Any, where: str = "") -> list[str]:
    """Paths present in ``original`` but dropped by the model (unknown fields)."""
    if isinstance(original, dict):
        if not isinstance(kept, dict):
            return [where]
        return [p for key, value in original.items()
                for p in ([f"{where}.{key}"] if key not in kept else lost_fields(value, kept[key], f"{where}.{key}"))]
    if isinstance(original, list):
        return [p for i, value in enumerate(original) for p in lost_fields(value, kept[i], f"{where}[{i}]")]
    return []


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_object_matches_the_api_schema(doc: dict[str, Any]) -> None:
    model = getattr(client, MODELS[doc["kind"]]).from_dict(doc)
    kept = client.ApiClient().sanitize_for_serialization(model)
    assert lost_fields(doc, kept) == []
    if doc["kind"] != "Namespace":
        assert doc["metadata"]["namespace"] == Settings().skill_sandbox_namespace


def test_kustomization_lists_every_file() -> None:
    listed = set(yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}


def test_network_policy_denies_all_traffic_of_sandbox_pods() -> None:
    (policy,) = [d for d in documents() if d["kind"] == "NetworkPolicy"
                 and d["metadata"]["name"] == "skill-sandbox-deny-all"]
    assert policy["spec"]["podSelector"]["matchLabels"] == {SANDBOX_LABEL: "skill"}
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert policy["spec"]["egress"] == [] and policy["spec"]["ingress"] == []


def test_services_use_the_default_ports_and_share_the_data_volume() -> None:
    settings = Settings()
    expected = {"agent-service": settings.agent_service_port, "trading-service": settings.trading_service_port,
                "news-service": settings.news_service_port, "runtime-service": settings.runtime_service_port}
    # Each run's Gateway is a Pod + Service runtime_service creates (deploy/kubernetes/gateway-rbac.yaml).
    docs = documents()
    services = {d["metadata"]["name"]: d["spec"]["ports"][0]["port"] for d in docs if d["kind"] == "Service"}
    assert services == expected
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
        assert claims == ["evotraders-data"]
        assert pod["containers"][0]["ports"][0]["containerPort"] == expected[deployment["metadata"]["name"]]
