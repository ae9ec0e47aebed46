"""deploy/container/kube_tokens.py (the tokens Job's command) through the official client.

No API server can run here: a stand-in serves the three core/v1 Secret calls
the script makes (read, create; 409 when it exists) with the API's JSON
shapes on 127.0.0.1 over real HTTP.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
from kubernetes import client

from deploy_helpers import ROOT

ROUTE = "/api/v1/namespaces/{ns}/secrets"


class SecretsApi:
    """Secrets by (namespace, name), with a count of creations; ``race`` makes the next create a 409."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.creates = 0
        self.race = False
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _status(self, code: int, reason: str) -> None:
                self._send(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
                                  "code": code, "message": reason})

            def do_GET(self) -> None:
                parts = self.path.split("/")  # ['', api, v1, namespaces, ns, secrets, name]
                key = (parts[4], parts[6])
                if key in api.secrets:
                    self._send(200, api.secrets[key])
                else:
                    self._status(404, "NotFound")

            def do_POST(self) -> None:
                ns = self.path.split("/")[4]
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = (ns, body["metadata"]["name"])
                if key in api.secrets or api.race:
                    api.race = False
                    self._status(409, "AlreadyExists")
                    return
                api.creates += 1
                data = {k: base64.b64encode(v.encode()).decode() for k, v in body.pop("stringData").items()}
                api.secrets[key] = {**body, "data": data}
                self._send(201, api.secrets[key])

        return Handler


@pytest.fixture
def secrets_api() -> Iterator[SecretsApi]:
    api = SecretsApi()
    api.thread.start()
    yield api
    api.server.shutdown()
    api.server.server_close()


@pytest.fixture
def kube_tokens() -> Any:
    spec = importlib.util.spec_from_file_location("kube_tokens", ROOT / "deploy" / "container" / "kube_tokens.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def core_api(url: str) -> Any:
    configuration = client.Configuration()
    configuration.host = url
    return client.CoreV1Api(client.ApiClient(configuration))


def test_the_secret_is_made_once_with_fresh_tokens_and_then_kept(secrets_api: SecretsApi, kube_tokens: Any) -> None:
    api = core_api(secrets_api.url)
    assert kube_tokens.ensure_secret(api, "evotraders", "evotraders-tokens") is True
    stored = secrets_api.secrets[("evotraders", "evotraders-tokens")]
    values = {k: base64.b64decode(v).decode() for k, v in stored["data"].items()}
    assert set(values) == {"admin", "operator", "viewer", "run_secret"}
    assert len(set(values.values())) == 4 and all(len(v) >= 32 for v in values.values())
    assert stored["metadata"]["labels"] == {"app.kubernetes.io/part-of": "evotraders"}
    # Applying the manifests again runs the Job again: the tokens stay.
    assert kube_tokens.ensure_secret(api, "evotraders", "evotraders-tokens") is False
    assert secrets_api.creates == 1
    assert secrets_api.secrets[("evotraders", "evotraders-tokens")]["data"] == stored["data"]


def test_a_concurrent_job_that_made_it_first_is_no_failure(secrets_api: SecretsApi, kube_tokens: Any) -> None:
    secrets_api.race = True
    assert kube_tokens.ensure_secret(core_api(secrets_api.url), "evotraders", "evotraders-tokens") is False


def test_two_calls_make_different_tokens(kube_tokens: Any) -> None:
    assert kube_tokens.fresh_tokens() != kube_tokens.fresh_tokens()
