"""`evotraders import-legacy`: earlier EvoTraders run folders become runs of this project.

Property tests over which files a folder holds and which are malformed
(each malformed file is reported by name, the rest imported; the source is
untouched; a second import is a no-op); the imported run read back through
RunStore, run history and the desk's replay; the CLI in a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from app.models.live_model import LiveModel
from backend.legacy.importer import MARKER, LegacyImportError, find_legacy_runs, import_legacy
from backend.schema import events as ev
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore
from tests.legacy.legacy_fixtures import EQUITY, FILES, TRADES, legacy_files, tree_digest, write_legacy_run

ROOT = Path(__file__).resolve().parents[2]
# Bytes that no legacy file may hold: not JSON, cut mid-way, not UTF-8, a JSON value of the wrong kind.
GARBAGE = [b"{not json", b'{"totalAssetValue": 1', b"\xff\xfe\x00", b"[1, 2, 3]"]


def store_of(runs: Path) -> RunStore:
    return RunStore(runs, WorkspaceStore(runs.parent / "no-workspaces"))


def test_a_whole_folder_becomes_a_completed_run_with_its_trades_metrics_and_feed(tmp_path: Path) -> None:
    write_legacy_run(tmp_path / "legacy" / "backtest")
    [result] = import_legacy(tmp_path / "legacy", tmp_path / "runs")
    assert result.imported and result.problems == [] and sorted(result.files) == sorted(FILES)
    store = store_of(tmp_path / "runs")
    config, body = store.read_bootstrap(result.run_id)
    assert (config.mode, config.tickers, config.initial_cash) == ("backtest", ["NVDA", "AAPL"], 100000.0)
    assert (config.start_date.isoformat(), config.end_date.isoformat()) == ("2024-03-04", "2024-03-06")
    assert "import-legacy" in body
    state = store.load_server_state(result.run_id)
    assert state is not None and state.status == "completed" and state.metrics is not None
    assert state.metrics.final_equity == EQUITY[-1] and state.metrics.trades == 3 and state.metrics.win_rate == 0.5
    assert [h.ticker for h in state.holdings] == ["NVDA", "AAPL", "CASH"]
    assert [p["v"] for p in state.portfolio.equity] == EQUITY
    assert [t["id"] for t in store.read_trades(result.run_id)] == [t["id"] for t in reversed(TRADES)]
    [row] = store.list_runs()
    assert row["run_id"] == result.run_id and row["status"] == "completed" and row["progress"] == 1.0
    assert row["metrics"]["final_equity"] == EQUITY[-1]
    marker = json.loads((tmp_path / "runs" / result.run_id / MARKER).read_text())
    assert marker["source"] == str((tmp_path / "legacy" / "backtest").resolve())


def test_the_imported_feed_replays_on_the_desk_model_without_a_refusal(tmp_path: Path) -> None:
    write_legacy_run(tmp_path / "legacy" / "live")
    [result] = import_legacy(tmp_path / "legacy" / "live", tmp_path / "runs")
    log = tmp_path / "runs" / result.run_id / "logs" / "events.jsonl"
    lines = log.read_bytes().splitlines()
    model = LiveModel()
    applied = asyncio.run(model.replay(log, speed=0))
    assert applied == len(lines) and model.refused == 0
    feed = [json.loads(line) for line in lines]
    assert [e["type"] for e in feed].count("day_start") == 3
    assert any(e.get("content") == "Buy 40 AAPL" for e in feed)
    assert [h.ticker for h in model.holdings] == ["NVDA", "AAPL", "CASH"]
    assert {t.id for t in model.trades} == {t["id"] for t in TRADES}
    assert model.total_value == EQUITY[-1]
    assert store_of(tmp_path / "runs").read_bootstrap(result.run_id)[0].mode == "live"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(present=st.sets(st.sampled_from(FILES), min_size=1),
       bad=st.dictionaries(st.sampled_from(FILES), st.sampled_from(GARBAGE), max_size=len(FILES)))
def test_each_malformed_file_is_named_the_rest_imported_the_source_untouched_and_a_reimport_is_a_no_op(
        present: set[str], bad: dict[str, bytes]) -> None:
    bad = {name: data for name, data in bad.items() if name in present}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = write_legacy_run(root / "legacy" / "cfg_momentum", only=present, malformed=bad)
        before = tree_digest(root / "legacy")
        [result] = import_legacy(root / "legacy", root / "runs")
        assert result.imported
        named = {problem.split(":", 1)[0] for problem in result.problems}
        assert named == set(bad), result.problems  # every malformed file, and only those, by name
        assert set(result.files) == present - set(bad)
        run = root / "runs" / result.run_id
        for name in present - set(bad):
            if name.startswith("team_dashboard/"):  # each good dashboard file kept as it was
                assert json.loads((run / name).read_text()) == legacy_files()[name]
        for name in bad:
            if name.startswith("team_dashboard/"):
                assert not (run / name).exists()
        store = store_of(root / "runs")
        assert store.load_server_state(result.run_id) is not None
        trades = store.read_trades(result.run_id)
        trades_from = {"team_dashboard/trades.json", "state/server_state.json"} & (present - set(bad))
        assert len(trades) == (3 if trades_from else 0)
        for line in (run / "logs" / "events.jsonl").read_bytes().splitlines():
            ev.parse_frame(line)  # every line is an event the desk's replay accepts
        assert tree_digest(root / "legacy") == before  # nothing in the source changed
        assert sorted(p.name for p in root.iterdir()) == ["legacy", "runs"]  # nothing written beside runs/
        assert [p.name for p in (root / "runs").iterdir()] == [result.run_id]  # no staging folder left
        written = tree_digest(run)
        [again] = import_legacy(root / "legacy", root / "runs")
        assert (again.run_id, again.imported) == (result.run_id, False)
        assert tree_digest(run) == written and tree_digest(root / "legacy") == before
        assert source.is_dir()


def test_a_changed_source_is_a_new_run_and_two_folders_two_runs(tmp_path: Path) -> None:
    write_legacy_run(tmp_path / "legacy" / "backtest")
    write_legacy_run(tmp_path / "legacy" / "live", only={"team_dashboard/summary.json"})
    first = import_legacy(tmp_path / "legacy", tmp_path / "runs")
    assert [r.source.name for r in first] == ["backtest", "live"] and all(r.imported for r in first)
    stats = tmp_path / "legacy" / "backtest" / "team_dashboard" / "stats.json"
    stats.write_text(stats.read_text().replace('"winRate": 0.5', '"winRate": 0.75'))
    second = import_legacy(tmp_path / "legacy", tmp_path / "runs")
    assert [r.imported for r in second] == [True, False]
    assert second[0].run_id != first[0].run_id and second[1].run_id == first[1].run_id
    assert len(store_of(tmp_path / "runs").list_runs()) == 3


def test_a_folder_without_a_legacy_run_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "empty" / "notes").mkdir(parents=True)
    with pytest.raises(LegacyImportError, match="no legacy EvoTraders run folder"):
        find_legacy_runs(tmp_path / "empty")
    with pytest.raises(LegacyImportError, match="no such folder"):
        find_legacy_runs(tmp_path / "missing")
    assert not (tmp_path / "runs").exists()
    write_legacy_run(tmp_path / "legacy" / "backtest")
    [done] = import_legacy(tmp_path / "legacy", tmp_path / "runs")
    with pytest.raises(LegacyImportError, match="inside the runs folder"):  # this project's runs are no source
        import_legacy(tmp_path / "runs", tmp_path / "runs")
    with pytest.raises(LegacyImportError, match="no legacy EvoTraders run folder"):
        find_legacy_runs(tmp_path / "runs")  # a folder of this project's runs (BOOTSTRAP.md) holds none
    assert [p.name for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")] == [done.run_id]


def test_the_cli_imports_reports_a_malformed_file_and_is_a_no_op_the_second_time(tmp_path: Path) -> None:
    write_legacy_run(tmp_path / "legacy" / "production", malformed={"team_dashboard/holdings.json": b"{oops"})

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "backend.cli.main", "import-legacy", *args,
                               "--runs-dir", str(tmp_path / "runs")], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)

    first = cli(str(tmp_path / "legacy"))
    assert first.returncode == 0, first.stderr
    assert "imported as run legacy-production-" in first.stdout
    assert "team_dashboard/holdings.json: not JSON" in first.stderr
    second = cli(str(tmp_path / "legacy"))
    assert second.returncode == 0 and "already imported" in second.stdout
    missing = cli(str(tmp_path / "nothing-here"))
    assert missing.returncode == 2 and "no such folder" in missing.stderr and "Traceback" not in missing.stderr
