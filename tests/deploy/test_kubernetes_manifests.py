"""deploy/kubernetes: every object valid against the Kubernetes schemas, and every reference resolves.

`kubectl apply -k deploy/kubernetes` is rendered in Python (no kubectl or
API server can run here) and checked: ServiceAccounts, Roles, ConfigMaps,
Secrets and claims named anywhere exist, Services and NetworkPolicies select
pods that exist (the Deployments', and those the Gateway launcher and the
skill sandbox create), and the settings are real settings.
"""

from __future__ import annotations

import copy
import importlib.util
from typing import Any, Iterator

import kubernetes_validate
import pytest
import yaml

from backend.config import Settings, env_name
from backend.control_plane.gateway_launchers.base import CONTAINER_PORT, labels as gateway_labels
from backend.control_plane.gateway_launchers.kubernetes import KubeWorkload
from backend.sandbox.kubernetes_backend import SANDBOX_LABEL

from deploy_helpers import KUBE_DIR, ROOT, kustomize_render

K8S_VERSION = "1.30"
DOCS = kustomize_render()


def spec_of(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec a workload object runs, if it is one."""
    if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return doc["spec"]["template"]["spec"]
    if doc["kind"] == "Pod":
        return doc["spec"]
    return None


def gateway_template() -> dict[str, Any]:
    (cm,) = [d for d in DOCS if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "evotraders-gateway-template"]
    return yaml.safe_load(cm["data"]["pod.yaml"])


def pod_specs() -> Iterator[tuple[str, dict[str, Any], dict[str, str]]]:
    """(where, pod spec, pod labels) of every pod the manifests run, the Gateway template's included."""
    for doc in DOCS:
        spec = spec_of(doc)
        if spec is not None:
            yield (f"{doc['kind']}/{doc['metadata']['name']}", spec,
                   doc["spec"]["template"]["metadata"].get("labels", {}))
    template = gateway_template()
    yield "gateway pod template", template["spec"], template["metadata"]["labels"]


def names(kind: str) -> set[str]:
    return {d["metadata"]["name"] for d in DOCS if d["kind"] == kind}


def kube_tokens_module() -> Any:
    spec = importlib.util.spec_from_file_location("kube_tokens", ROOT / "deploy" / "container" / "kube_tokens.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("doc", DOCS + [gateway_template()],
                         ids=lambda d: f"{d['kind']}/{d.get('metadata', {}).get('name', 'template')}")
def test_object_validates_against_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_rejects_a_mistyped_manifest() -> None:
    deployment = copy.deepcopy(next(d for d in DOCS if d["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/health"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    deployment = copy.deepcopy(next(d for d in DOCS if d["kind"] == "Deployment"))
    deployment["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest_and_everything_lands_in_one_namespace() -> None:
    listed = set(yaml.safe_load((KUBE_DIR / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in KUBE_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert {d["metadata"].get("namespace") for d in DOCS if d["kind"] != "Namespace"} == names("Namespace")


def test_every_service_account_role_config_map_secret_and_claim_referenced_exists() -> None:
    secrets_made = {d["spec"]["template"]["spec"]["containers"][0]["args"][-1] for d in DOCS
                    if d["kind"] == "Job" and d["metadata"]["name"] == "evotraders-tokens"}
    for where, spec, _ in pod_specs():
        assert spec.get("serviceAccountName", "default") in names("ServiceAccount"), where
        for volume in spec.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in names("PersistentVolumeClaim"), where
            if "configMap" in volume:
                assert volume["configMap"]["name"] in names("ConfigMap"), where
            if "secret" in volume:
                assert volume["secret"]["secretName"] in names("Secret") | secrets_made, where
        for container in spec["containers"]:
            mounts = {m["name"] for m in container.get("volumeMounts", [])}
            assert mounts <= {v["name"] for v in spec.get("volumes", [])}, where
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in names("ConfigMap"), where
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in names("Secret") | secrets_made, f"{where}: {var['name']}"
    for binding in (d for d in DOCS if d["kind"] == "RoleBinding"):
        assert binding["roleRef"]["name"] in names(binding["roleRef"]["kind"]), binding["metadata"]["name"]
        for subject in binding["subjects"]:
            assert subject["name"] in names("ServiceAccount"), binding["metadata"]["name"]


def test_the_tokens_secret_has_every_key_the_services_read() -> None:
    kube_tokens = kube_tokens_module()
    made = set(kube_tokens.fresh_tokens())
    for where, spec, _ in pod_specs():
        for container in spec["containers"]:
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in made, f"{where}: {var['name']} reads key {ref['key']!r}"
    services = [spec for where, spec, _ in pod_specs() if where.startswith("Deployment/")]
    assert len(services) == 4
    for spec in services:
        env = {v["name"] for v in spec["containers"][0]["env"]}
        # Required (not optional) tokens: no service pod starts, so none binds 0.0.0.0, without them.
        assert {"EVOTRADERS_ADMIN_TOKEN", "EVOTRADERS_VIEWER_TOKEN", "EVOTRADERS_RUN_SECRET"} <= env
        assert not any(v["valueFrom"]["secretKeyRef"].get("optional") for v in spec["containers"][0]["env"])


def running_pod_labels() -> list[dict[str, str]]:
    """Labels of every pod that may run: the manifests' and those made by code (Gateways, skill sandboxes)."""
    return ([lbl for _, _, lbl in pod_specs()] + [gateway_labels("some-run")] + [{SANDBOX_LABEL: "skill"}])


def selects(selector: dict[str, str], pod_labels: dict[str, str]) -> bool:
    return all(pod_labels.get(k) == v for k, v in selector.items())


def test_every_service_and_network_policy_selects_pods_that_exist() -> None:
    pods = running_pod_labels()
    for service in (d for d in DOCS if d["kind"] == "Service"):
        assert any(selects(service["spec"]["selector"], p) for p in pods), service["metadata"]["name"]
    for policy in (d for d in DOCS if d["kind"] == "NetworkPolicy"):
        assert any(selects(policy["spec"]["podSelector"]["matchLabels"], p) for p in pods), policy["metadata"]["name"]
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                if "podSelector" in peer:
                    assert any(selects(peer["podSelector"]["matchLabels"], p) for p in pods)


def test_gateway_pods_are_reachable_only_from_the_services_and_the_ingress() -> None:
    (policy,) = [d for d in DOCS if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "gateway-ingress"]
    assert selects(policy["spec"]["podSelector"]["matchLabels"], gateway_labels("r1"))
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    service_pods = [lbl for where, _, lbl in pod_specs() if where.startswith("Deployment/")]
    peers = rule["from"]
    assert all(any(selects(p["podSelector"]["matchLabels"], lbl) for p in peers if "podSelector" in p)
               for lbl in service_pods)
    assert not any(selects(p["podSelector"]["matchLabels"], gateway_labels("r1")) for p in peers if "podSelector" in p)
    assert rule["ports"] == [{"protocol": "TCP", "port": CONTAINER_PORT}]


def test_runtime_service_may_manage_gateway_pods_services_and_records() -> None:
    (runtime,) = [d for d in DOCS if d["kind"] == "Deployment" and d["metadata"]["name"] == "runtime-service"]
    account = runtime["spec"]["template"]["spec"]["serviceAccountName"]
    granted: dict[str, set[str]] = {}
    roles = {d["metadata"]["name"]: d for d in DOCS if d["kind"] == "Role"}
    for binding in (d for d in DOCS if d["kind"] == "RoleBinding"):
        if any(s["name"] == account for s in binding["subjects"]):
            for rule in roles[binding["roleRef"]["name"]]["rules"]:
                for resource in rule["resources"]:
                    granted.setdefault(resource, set()).update(rule["verbs"])
    # What KubeWorkload calls: records, Services, Pods (create, read, delete) and pods/log.
    assert {"create", "get", "delete"} <= granted["pods"] & granted["services"] & granted["configmaps"]
    assert "get" in granted["pods/log"]


def test_settings_config_map_holds_only_real_settings() -> None:
    (cm,) = [d for d in DOCS if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "evotraders-settings"]
    known = {env_name(f) for f in Settings.model_fields}
    assert set(cm["data"]) - known == set()
    settings = Settings(**{k.lower(): v for k, v in cm["data"].items()})  # every value parses
    assert settings.gateway_launcher == "kubernetes" and settings.evotraders_host == "0.0.0.0"


def test_every_pod_is_non_root_read_only_with_probes_and_resources() -> None:
    for where, spec, _ in pod_specs():
        context = spec.get("securityContext", {})
        for container in spec["containers"]:
            c = container.get("securityContext", {})
            assert context.get("runAsNonRoot") or c.get("runAsNonRoot"), where
            assert c.get("readOnlyRootFilesystem") is True and c.get("allowPrivilegeEscalation") is False, where
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], where
            if where.startswith("Deployment/") or where == "gateway pod template":
                for probe in ("readinessProbe", "livenessProbe"):
                    assert container[probe]["httpGet"]["path"] == "/health", f"{where} {probe}"


def test_gateway_pod_template_is_what_the_kubernetes_launcher_creates() -> None:
    made = KubeWorkload(None, "r1", namespace="evotraders", image="evotraders/control-center:0.1.0",
                        args=["--run-id", "r1"], env={}, service_account="evotraders-gateway")._pod_body("p", None)
    template = gateway_template()
    made_c, tmpl_c = made["spec"]["containers"][0], template["spec"]["containers"][0]
    assert tmpl_c["image"] == made_c["image"]
    assert tmpl_c["args"][0] == made_c["args"][0] == "gateway"
    assert [p["containerPort"] for p in tmpl_c["ports"]] == [p["containerPort"] for p in made_c["ports"]]
    assert tmpl_c["readinessProbe"]["httpGet"] == made_c["readinessProbe"]["httpGet"]
    claim = lambda spec: [v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v]  # noqa: E731
    assert claim(template["spec"]) == claim(made["spec"])
    assert {m["mountPath"] for m in tmpl_c["volumeMounts"]} == {m["mountPath"] for m in made_c["volumeMounts"]}
    assert template["spec"]["restartPolicy"] == made["spec"]["restartPolicy"] == "Never"
    assert template["spec"]["serviceAccountName"] == made["spec"]["serviceAccountName"]
    assert selects(template["metadata"]["labels"], made["metadata"]["labels"])
