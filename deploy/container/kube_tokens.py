"""Make the tokens Secret once (deploy/kubernetes/tokens.yaml's Job runs this in the image).

    python /app/deploy/container/kube_tokens.py [--namespace evotraders] [--name evotraders-tokens]

Creates Secret ``NAME`` with fresh random ``admin``, ``operator`` and
``viewer`` tokens and a ``run_secret`` unless it exists (an existing one is
left as it is, so re-applying the manifests keeps the tokens). Prints no token.
Uses the pod's service account (in-cluster), else the kube config.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import Any

ROLES = ("admin", "operator", "viewer")


def fresh_tokens() -> dict[str, str]:
    tokens = {role: secrets.token_urlsafe(24) for role in ROLES}
    tokens["run_secret"] = secrets.token_urlsafe(32)
    return tokens


def ensure_secret(api: Any, namespace: str, name: str) -> bool:
    """True when this call created the Secret, False when it existed already."""
    from kubernetes.client.exceptions import ApiException

    try:
        api.read_namespaced_secret(name, namespace)
        return False
    except ApiException as err:
        if err.status != 404:
            raise
    body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/part-of": "evotraders"}},
            "stringData": fresh_tokens()}
    try:
        api.create_namespaced_secret(namespace, body)
    except ApiException as err:
        if err.status == 409:  # made by a concurrent run of this Job
            return False
        raise
    return True


def core_api() -> Any:
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.CoreV1Api()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="evotraders")
    parser.add_argument("--name", default="evotraders-tokens")
    args = parser.parse_args(argv)
    from kubernetes.client.exceptions import ApiException

    try:
        created = ensure_secret(core_api(), args.namespace, args.name)
    except ApiException as err:
        print(f"kube_tokens: {args.namespace}/{args.name}: {err.status} {err.reason}", file=sys.stderr)
        return 1
    print(f"kube_tokens: secret {args.namespace}/{args.name} "
          f"{'created with fresh tokens' if created else 'exists; left as it is'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
