"""The desk's Local profile is where Settings says the local stack listens (RUNTIME_SERVICE_PORT, ...)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.models.profile import LOCAL, local_profile_from_settings
from backend.config import load_settings
from tests.desk.conftest import ROOT
from tests.support.http_server import HealthHandler, serving

# Run in a fresh interpreter, so Settings come from the environment as the desk's do.
PROBE = r"""
import asyncio, json, sys
from pathlib import Path
from app.models.profiles import ProfileStore, TokenVault
from app.models.settings_store import AppSettings, MemorySettings
from app.session import Session

async def main():
    store = ProfileStore(AppSettings(MemorySettings()), TokenVault(Path(sys.argv[1]), backend=None))
    profile = store.get("Local")
    session = Session(profile, health_interval=0.05)
    await session.open(profile)
    for _ in range(400):
        if session.state("runtime").status != "unknown":
            break
        await asyncio.sleep(0.025)
    default = Session().profile
    print(json.dumps({"runtime_url": profile.runtime_url, "agent_url": profile.agent_url,
                      "runtime": session.state("runtime").status, "detail": session.state("runtime").detail,
                      "default_runtime_url": default.runtime_url}))
    await session.close()

asyncio.run(main())
"""


def test_local_profile_follows_the_service_ports_of_settings() -> None:
    settings = load_settings(runtime_service_port=9003, agent_service_port=9000)
    profile = local_profile_from_settings(settings)
    assert profile.name == LOCAL and profile.is_local
    assert (profile.runtime_url, profile.agent_url) == ("http://127.0.0.1:9003", "http://127.0.0.1:9000")
    assert profile.trading_url == "http://127.0.0.1:8001"  # the others keep their defaults


def test_the_desk_talks_to_the_runtime_port_the_environment_names(tmp_path: Path) -> None:
    with serving(HealthHandler) as (url, _server):
        port = url.rsplit(":", 1)[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOTRADERS_", "AGENT_", "RUNTIME_"))}
        env.update(RUNTIME_SERVICE_PORT=port, RUNS_DIR=str(tmp_path / "runs"), WORKSPACES_DIR=str(tmp_path / "ws"))
        out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "tokens.json")], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["runtime_url"] == f"http://127.0.0.1:{port}" == seen["default_runtime_url"]
    assert seen["runtime"] == "up", seen  # it reached the server on that port, not :8003
    assert seen["agent_url"] == "http://127.0.0.1:8000"


def test_a_bad_port_in_the_environment_is_one_line_naming_it(tmp_path: Path) -> None:
    env = {**os.environ, "RUNTIME_SERVICE_PORT": "abc", "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "RUNS_DIR": str(tmp_path / "runs"),
           "WORKSPACES_DIR": str(tmp_path / "ws")}
    out = subprocess.run([sys.executable, "-m", "backend.cli.main", "desk", "--quit-after-shown",
                          "--settings", str(tmp_path / "desk.ini")], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr[-2000:]
    assert "RUNTIME_SERVICE_PORT" in lines[0] and "abc" in lines[0]
