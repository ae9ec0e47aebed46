import pytest

from backend.schema.bootstrap import BootstrapConfig
from backend.storage.bootstrap_file import BootstrapError, parse_bootstrap, render_bootstrap


def _text() -> str:
    return render_bootstrap(BootstrapConfig(), "# Team prompt\nTrade carefully.\n")


def test_round_trip_keeps_config_and_prompt():
    config, body = parse_bootstrap(_text())
    assert config == BootstrapConfig()
    assert body.strip() == "# Team prompt\nTrade carefully."


@pytest.mark.parametrize("old,new,line,field", [
    ("mode: backtest", "mode: replay", 2, "mode"),
    ("- NVDA", "- nvda", 4, "tickers"),
    ("end_date: '2025-06-30'", "end_date: '2024-06-30'", 11, "end_date"),
    ("  on_timeout: reject", "  on_timeout: maybe", None, "approval.on_timeout"),
    ("initial_cash: 100000.0", "initial_cash: -5", None, "initial_cash"),
])
def test_a_bad_field_names_file_line_and_field(old, new, line, field):
    text = _text()
    assert old in text
    bad = text.replace(old, new)
    with pytest.raises(BootstrapError) as info:
        parse_bootstrap(bad, "runs/r1/BOOTSTRAP.md")
    err = info.value
    assert err.field == field
    expected_line = line or next(i for i, ln in enumerate(bad.splitlines(), 1) if ln.strip() == new.strip())
    assert err.line == expected_line
    assert str(err).startswith(f"runs/r1/BOOTSTRAP.md:{expected_line}: field '{field}'")


def test_yaml_syntax_error_points_at_its_line():
    with pytest.raises(BootstrapError) as info:
        parse_bootstrap("---\nmode: backtest\ntickers: [AAPL\n---\nbody\n", "B.md")
    assert info.value.line is not None and info.value.line >= 3
    assert "invalid YAML" in str(info.value)


@pytest.mark.parametrize("text,message", [
    ("mode: backtest\n", "missing front matter"),
    ("---\nmode: backtest\n", "not closed"),
    ("---\n- a list\n---\n", "must be a mapping"),
])
def test_structural_problems(text, message):
    with pytest.raises(BootstrapError, match=message):
        parse_bootstrap(text)


def test_roster_needs_a_portfolio_manager():
    text = _text()
    cut = "\n".join(ln for ln in text.splitlines() if "portfolio_manager" not in ln) + "\n"
    with pytest.raises(BootstrapError, match="portfolio_manager"):
        parse_bootstrap(cut)
