"""A Gateway checks its clients' tokens without holding them: it is handed their digests only."""

from __future__ import annotations

import datetime as dt
import json

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from backend.config import load_settings
from backend.control_plane.controller import RuntimeController
from backend.security.tokens import (
    TOKEN_DIGESTS_ENV, Role, TokenConfigError, TokenRegistry, digests_from_env, generate_registry,
)
from backend.storage.run_store import RunStore

TOKENS = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@given(st.dictionaries(st.sampled_from(list(Role)), TOKENS, min_size=1), TOKENS)
def test_digests_resolve_exactly_as_the_tokens_do(tokens, other):
    plain = TokenRegistry(dict(tokens))
    hashed = digests_from_env(plain.digest_env())
    assert hashed and TokenRegistry({}, None, hashed).configured
    verifier = TokenRegistry({}, None, hashed)
    for presented in [*tokens.values(), other, ""]:
        assert verifier.resolve(presented) == plain.resolve(presented)


@pytest.mark.parametrize("raw, needle", [
    ("{not json", "not JSON"), ('["admin"]', "object"), ('{"root": "' + "0" * 64 + '"}', "unknown role"),
    ('{"admin": "abc"}', "64 lowercase hex"),
])
def test_bad_digests_are_refused_by_name(raw, needle):
    with pytest.raises(TokenConfigError, match=needle) as info:
        digests_from_env({TOKEN_DIGESTS_ENV: raw})
    assert TOKEN_DIGESTS_ENV in str(info.value)


async def test_a_gateway_spawned_by_the_controller_holds_no_token_and_still_knows_every_role(tmp_path, monkeypatch):
    registry = generate_registry()
    for role, token in registry.tokens.items():  # as if runtime_service had them in its own environment
        monkeypatch.setenv(f"EVOTRADERS_{role.name.upper()}_TOKEN", token)
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    store = RunStore.from_settings(settings)
    store.create_run("default", run_id="tokens", overrides={"start_date": dt.date(2025, 3, 3),
                                                            "end_date": dt.date(2025, 3, 4), "tickers": ["AAPL"]})
    controller = RuntimeController(settings, store, registry=registry)
    roles = {}
    try:
        info = await controller.start_run("tokens", paused=True)
        environ = psutil.Process(info["pid"]).environ()
        for role, token in registry.tokens.items():
            async with connect(f"{info['url']}?token={token}", open_timeout=10) as ws:
                roles[role] = json.loads(await ws.recv()).get("role")
        with pytest.raises(InvalidStatus):
            async with connect(f"{info['url']}?token=not-a-token-of-this-stack", open_timeout=10):
                pass
    finally:
        await controller.shutdown()
    assert not [name for name, value in environ.items() if any(tok in value for tok in registry.tokens.values())]
    assert registry.run_secret not in environ.values()
    assert environ.get(TOKEN_DIGESTS_ENV)
    assert roles == {role: role.name for role in registry.tokens}
