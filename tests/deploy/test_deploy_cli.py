"""`evotraders deploy`: its tokens file and its one-line errors (no engine needed)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from backend.cli import deploy
from deploy_helpers import ROOT


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backend.cli.main", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_deploy_is_an_evotraders_command() -> None:
    shown = cli("--help")
    assert shown.returncode == 0 and "deploy" in shown.stdout
    assert "up" in cli("deploy", "--help").stdout


@pytest.mark.parametrize("name", ["BAD", "-x", "a b", "x" * 41, "evo_traders"])
def test_a_bad_deployment_name_is_one_line_naming_it(name: str) -> None:
    result = cli("deploy", f"--name={name}", "up")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and repr(name) in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_tokens_file_is_made_fresh_private_and_then_kept(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "tokens.json"
    first = deploy.ensure_tokens(path)
    assert set(first) == {"admin", "operator", "viewer", "run_secret"}
    assert len(set(first.values())) == 4 and all(len(v) >= 32 for v in first.values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert deploy.ensure_tokens(path) == first  # an existing file is never regenerated
    assert [p.name for p in path.parent.iterdir()] == ["tokens.json"]  # no temporary file left


@pytest.mark.parametrize("text", ["{not json", "[]", json.dumps({"operator": "x" * 20})])
def test_an_unusable_tokens_file_is_refused_naming_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(text)
    with pytest.raises(deploy.DeployError, match=str(path)):
        deploy.ensure_tokens(path)
    assert path.read_text() == text  # left as it was


def test_a_remote_engine_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2376")
    with pytest.raises(deploy.DeployError, match="unix://"):
        deploy.docker_socket()
