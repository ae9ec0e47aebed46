import subprocess

import pytest

from backend.config import SettingsError, load_settings
from tests.conftest import VENV_BIN


def test_defaults_match_the_architecture(monkeypatch):
    for var in ("AGENT_SERVICE_PORT", "GATEWAY_PORT", "TICKERS", "EVOTRADERS_HOST"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert (s.agent_service_port, s.trading_service_port, s.news_service_port, s.runtime_service_port,
            s.gateway_port) == (8000, 8001, 8002, 8003, 8765)
    assert s.evotraders_host == "127.0.0.1"
    assert s.initial_cash == 100_000 and s.margin_requirement == 0.0 and s.max_comm_cycles == 2
    assert s.skill_sandbox_mode == "none" and s.skill_sandbox_image == "python:3.11-slim"
    assert s.enable_dashboard_compat_exports is True


def test_environment_overrides_and_derived_urls(monkeypatch):
    monkeypatch.setenv("TICKERS", "aapl, NVDA")
    monkeypatch.setenv("TICKERS", "AAPL,NVDA")
    monkeypatch.setenv("TRADING_SERVICE_PORT", "9101")
    monkeypatch.setenv("AGENT_TECHNICAL_ANALYST_MODEL_NAME", "tiny-model")
    s = load_settings()
    assert s.tickers == ["AAPL", "NVDA"]
    assert s.trading_service_url == "http://127.0.0.1:9101"
    assert s.agent_model("technical_analyst") == "tiny-model"


@pytest.mark.parametrize("var,value,needle", [
    ("GATEWAY_PORT", "eighty", "GATEWAY_PORT"),
    ("SKILL_SANDBOX_MODE", "chroot", "SKILL_SANDBOX_MODE"),
    ("TICKERS", "AAPL,bad ticker", "TICKERS"),
    ("MARGIN_REQUIREMENT", "2", "MARGIN_REQUIREMENT"),
])
def test_invalid_values_name_the_variable(monkeypatch, var, value, needle):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert needle in message and "\n" not in message


def test_cli_reports_a_bad_setting_in_one_line(cli_env):
    cli_env["GATEWAY_PORT"] = "not-a-port"
    proc = subprocess.run([str(VENV_BIN / "evotraders"), "backtest", "--end", "2025-01-10"],
                          env=cli_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "GATEWAY_PORT" in lines[0]
    assert "Traceback" not in proc.stderr
