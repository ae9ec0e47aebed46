import pytest

from backend.errors import ConflictError, ForbiddenPathError, NotFoundError
from backend.storage.bootstrap_file import BootstrapError
from backend.storage.ids import InvalidIdError, new_run_id, validate_run_id
from backend.storage.workspaces import safe_join


def test_run_ids_sort_by_time_and_validate():
    a = new_run_id()
    assert validate_run_id(a) == a and len(a) > 16
    assert new_run_id() != a  # the random suffix
    for bad in ["../etc", "a/b", "..", "", ".hidden", "x" * 81, "a\\b", "run id"]:
        with pytest.raises(InvalidIdError):
            validate_run_id(bad)


def test_create_run_copies_the_default_workspace(store):
    run_id = store.create_run("default", run_id="r1", overrides={"tickers": ["AAPL", "MSFT"]})
    paths = store.paths(run_id)
    config, body = store.read_bootstrap(run_id)
    assert config.run_id == "r1" and config.tickers == ["AAPL", "MSFT"]
    assert "EvoTraders default team" in body
    for agent in ("fundamentals_analyst", "technical_analyst", "sentiment_analyst", "valuation_analyst",
                  "risk_manager", "portfolio_manager"):
        assert (paths.agent_dir(agent) / "AGENT.md").is_file()
    assert (paths.agent_dir("technical_analyst") / "skills" / "technical_indicators" / "SKILL.md").is_file()
    assert store.run_ids() == ["r1"]
    assert store.summary("r1")["status"] == "created"


def test_the_default_workspace_is_copied_on_first_use(store):
    assert not store.workspaces.root.exists()
    assert store.workspaces.names() == ["default"]
    assert (store.workspaces.root / "default" / "BOOTSTRAP.md").is_file()


def test_bad_creations_leave_nothing_behind(store):
    store.create_run("default", run_id="r1")
    with pytest.raises(ConflictError):
        store.create_run("default", run_id="r1")
    with pytest.raises(InvalidIdError):
        store.create_run("default", run_id="../escape")
    with pytest.raises(BootstrapError, match="end_date"):
        store.create_run("default", run_id="r2", overrides={"start_date": "2025-05-01", "end_date": "2025-04-01"})
    with pytest.raises(NotFoundError):
        store.create_run("no-such-workspace", run_id="r3")
    leftovers = sorted(p.name for p in store.runs_dir.iterdir())
    assert leftovers == ["r1"]


def test_unknown_run_and_traversal_are_refused(store, tmp_path):
    with pytest.raises(NotFoundError):
        store.read_bootstrap("nope")
    with pytest.raises(InvalidIdError):
        store.paths("../../etc")
    root = tmp_path / "ws"
    root.mkdir()
    for bad in ["../x", "/etc/passwd", "a/../../x"]:
        with pytest.raises(ForbiddenPathError):
            safe_join(root, bad)
    assert safe_join(root, "agents/a/AGENT.md") == (root / "agents/a/AGENT.md").resolve()


def test_workspace_files_are_validated_before_writing(store):
    store.workspaces.create("mine")
    good = store.workspaces.read_file("mine", "BOOTSTRAP.md")
    with pytest.raises(BootstrapError):
        store.workspaces.write_file("mine", "BOOTSTRAP.md", good.replace("mode: backtest", "mode: nope"))
    assert store.workspaces.read_file("mine", "BOOTSTRAP.md") == good
    with pytest.raises(ForbiddenPathError):
        store.workspaces.write_file("mine", "../default/BOOTSTRAP.md", good)
    store.workspaces.rename("mine", "yours")
    assert "yours" in store.workspaces.names() and "mine" not in store.workspaces.names()
    store.workspaces.delete("yours")
    assert store.workspaces.names() == ["default"]
