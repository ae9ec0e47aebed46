"""No skill sees a token or key: a skill that returns its whole environment, under every backend that runs here."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.config import load_settings
from backend.skills.spec import load_skill
from backend.sandbox.factory import make_executor
from backend.sandbox.in_process import SECRET_ENV_RE, scrub_secret_environ
from sandbox_helpers import DOCKER_IMAGE, SKILLS_DIR

SECRET_NAMES = ("EVOTRADERS_ADMIN_TOKEN", "EVOTRADERS_OPERATOR_TOKEN", "EVOTRADERS_VIEWER_TOKEN",
                "EVOTRADERS_RUN_TOKEN", "EVOTRADERS_RUN_SECRET", "EVOTRADERS_TOKENS_FILE", "OPENAI_API_KEY",
                "FINNHUB_API_KEY")


@pytest.mark.parametrize("mode", ["none", "process", "docker"])
def test_a_skill_sees_no_secret_of_the_process_that_runs_it(mode, tmp_path, request):
    settings = load_settings(runs_dir=tmp_path / "runs", skill_sandbox_mode="none", skill_sandbox_timeout=30)
    if mode == "docker":
        request.getfixturevalue("docker_client")  # skips without an engine (fails under EVOTRADERS_REQUIRE_DOCKER=1)
        settings = settings.model_copy(update={"skill_sandbox_image": DOCKER_IMAGE})
    planted = {name: f"secret-{secrets.token_hex(12)}" for name in SECRET_NAMES}
    spec = load_skill(SKILLS_DIR / "env_dump")
    with mock.patch.dict(os.environ, planted):  # restores this process's environment afterwards
        executor = make_executor(mode, settings)
        assert executor.mode == mode

        async def call():
            try:
                return await executor.run(spec, {})
            finally:
                await executor.close()

        result = asyncio.run(call())
    assert result.ok, result.error
    environ = result.output["environ"]
    assert not set(SECRET_NAMES) & set(environ), sorted(environ)
    leaked = [name for name, value in planted.items() if any(value in v for v in environ.values())]
    assert leaked == []
    if mode == "none":
        assert result.output["pid"] == os.getpid()  # in-process: the environment is scrubbed, nothing more
    else:
        assert result.output["pid"] != os.getpid()
        assert not any(SECRET_ENV_RE.search(name) for name in environ), sorted(environ)


@given(st.dictionaries(
    st.tuples(st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True),
              st.sampled_from(["", "_TOKEN", "_API_KEY", "_SECRET", "_PASSWORD", "_TOKENS_FILE", "_CREDENTIALS"])),
    st.text(min_size=1, max_size=20), max_size=12))
def test_scrubbing_removes_exactly_the_secret_looking_variables(pairs):
    environ = {base + suffix: value for (base, suffix), value in pairs.items()}
    before = dict(environ)
    removed = scrub_secret_environ(environ)
    assert set(removed) == {n for n in before if SECRET_ENV_RE.search(n)}
    assert environ == {n: v for n, v in before.items() if n not in removed}
    suffixes = ("_TOKEN", "_API_KEY", "_SECRET", "_PASSWORD", "_TOKENS_FILE", "_CREDENTIALS")
    assert {n for n in before if n.endswith(suffixes)} <= set(removed)  # every generated secret name goes


async def test_a_kubernetes_pod_is_given_no_secret():
    """No cluster runs here: the recorded-API stand-in (tests/support/fake_kube_api.py) shows the Pod spec the backend sends."""
    from kubernetes import client

    from backend.sandbox.isolation import Isolation
    from backend.sandbox.kubernetes_backend import KubernetesSandboxBackend
    from backend.sandbox.executor import SkillExecutor
    from backend.sandbox.limits import SandboxLimits
    from tests.support.fake_kube_api import FakeKube

    planted = {name: f"secret-{secrets.token_hex(12)}" for name in SECRET_NAMES}
    fake = FakeKube(Isolation(use_bwrap=False)).start()
    try:
        with mock.patch.dict(os.environ, planted):
            backend = KubernetesSandboxBackend(
                image=DOCKER_IMAGE, namespace="evotraders", poll_interval=0.05,
                api_client=client.ApiClient(client.Configuration(host=fake.host)))
            try:
                result = await SkillExecutor(backend, SandboxLimits(timeout_s=10)).run(
                    load_skill(SKILLS_DIR / "env_dump"), {})
            finally:
                await backend.close()
    finally:
        fake.stop()
    assert result.ok, result.error
    pod = next(obj for obj in fake.created if obj["kind"] == "Pod")
    containers = pod["spec"]["containers"]
    assert [c.get("env") for c in containers] == [[{"name": "HOME", "value": "/tmp"}]]
    assert not any(c.get("envFrom") for c in containers)
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert not any(value in json.dumps(pod) for value in planted.values())
