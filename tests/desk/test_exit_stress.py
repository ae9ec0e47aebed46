"""The desk exits cleanly on a busy machine (issue 16): many real launches, both exit paths, every core burning.

Each launch is ``python -m backend.cli.main desk`` (offscreen) in a fresh
config, runs and workspaces folder per slot; a slot relaunches in the same
folder, as a trader would, so every launch also reads what the previous one
wrote. Half the launches quit with ``--quit-after-shown``, half through the
File > Quit menu action (hidden ``--quit-from-menu``: the real
``QAction.trigger()`` on the real close path), in a seeded random order; the
theme is drawn per launch, so the settings file must show this launch's
choice, not a stale one. While they run, one CPU-burning process per core
competes with them (started and always killed by a fixture).

The crash depended on what PySide6's atexit hook found left over, so two
deterministic checks pin that down: after the desk's exit, and after a test
session that leaves a window behind, no QObject and no QApplication is left.
"""

from __future__ import annotations

import configparser
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.desk.conftest import ROOT

LAUNCHES = 50
PARALLEL = 4  # launches at a time (with one burner per core, on two cores the desks get 2/3 of the CPU)
LAUNCH_TIMEOUT = 90.0  # seconds for one launch, however loaded the machine
BURN_SECONDS = 300  # a burner stops by itself even if this test process dies without killing it

# Spins until killed, its parent is gone, or BURN_SECONDS passed (bounded either way).
BURNER = ("import os, time\n"
          "parent, end = os.getppid(), time.monotonic() + {seconds}\n"
          "while os.getppid() == parent and time.monotonic() < end:\n"
          "    pass\n")

# Runs the desk in-process, then reports what Qt objects are left for PySide6's atexit hook.
LEFTOVERS = """
import gc, json, sys
import shiboken6
from app.main import main
rc = main(sys.argv[1:])
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication
left = [type(o).__name__ for o in gc.get_objects() if isinstance(o, QObject) and shiboken6.isValid(o)]
print(json.dumps({"rc": rc, "app": QApplication.instance() is not None, "left": left}))
"""

# A test module that leaves a shown desk window (all panels) behind, and reports at atexit --
# just before PySide6's own hook runs -- what Qt is left.
LEAKY_TESTS = """
import atexit, gc, json
KEPT = []

def test_leaves_a_window_behind(qapp):
    import shiboken6
    from PySide6.QtCore import QObject
    from PySide6.QtWidgets import QApplication
    from app.models.profile import LOCAL, Profile
    from app.qt.main_window import MainWindow
    from app.session import Session

    window = MainWindow(Session(Profile(LOCAL)))
    window.show()
    KEPT.append(window)

    def report():  # registered after PySide6's hook, so it runs first
        left = [type(o).__name__ for o in gc.get_objects() if isinstance(o, QObject) and shiboken6.isValid(o)]
        print("QT LEFT AT EXIT " + json.dumps({"app": QApplication.instance() is not None, "left": left}))
    atexit.register(report)
"""

GEOMETRY_MAGIC = "@ByteArray(\\x1\\xd9\\xd0\\xcb"  # QWidget::saveGeometry()'s 0x01D9D0CB header, as INI text


@dataclass
class Launch:
    index: int
    path: str  # "shown" or "menu"
    theme: str
    rc: int = -1
    problem: str = ""


@pytest.fixture
def burners() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [subprocess.Popen([sys.executable, "-c", BURNER.format(seconds=BURN_SECONDS)])
             for _ in range(os.cpu_count() or 1)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(10)


def _settings_problem(ini: Path, launch: Launch) -> str:
    """What is wrong with the settings a launch left behind ("" if nothing)."""
    if not ini.exists():
        return "no settings file"
    text = ini.read_text()
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    if parser.get("ui", "theme", fallback=None) != launch.theme:
        return f"theme is {parser.get('ui', 'theme', fallback=None)!r}, expected {launch.theme!r}"
    geometry = parser.get("window", "geometry", fallback="")
    if not geometry.startswith(GEOMETRY_MAGIC):
        return f"window/geometry missing or not a saved geometry: {geometry[:40]!r}"
    if not parser.get("window", "state", fallback="").startswith("@ByteArray("):
        return "window/state missing"
    if launch.path == "menu" and parser.get("stack", "start_at_launch", fallback=None) != "false":
        return "stack/start_at_launch not saved as false"
    return ""


def _desk_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOTRADERS_", "AGENT_"))}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(home / "cfg"), RUNS_DIR=str(home / "runs"),
               WORKSPACES_DIR=str(home / "ws"))
    return env


def _run(launch: Launch, home: Path) -> Launch:
    env = _desk_env(home)
    ini = home / "desk.ini"
    flags = ["--quit-after-shown"] if launch.path == "shown" else ["--quit-from-menu", "--no-start-stack"]
    try:
        out = subprocess.run([sys.executable, "-X", "faulthandler", "-m", "backend.cli.main", "desk", *flags,
                              "--settings", str(ini), "--theme", launch.theme],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        launch.problem = f"did not exit within {LAUNCH_TIMEOUT}s"
        return launch
    launch.rc = out.returncode
    if out.returncode != 0:
        launch.problem = f"exit code {out.returncode}: {out.stderr[-1500:]}"
    elif "Fatal Python error" in out.stderr or "Traceback" in out.stderr:
        launch.problem = f"error output at exit: {out.stderr[-1500:]}"
    else:
        launch.problem = _settings_problem(ini, launch)
    return launch


@pytest.mark.slow
def test_the_desk_exits_cleanly_fifty_times_with_every_core_busy(tmp_path: Path, burners: list) -> None:
    seed = random.randrange(1 << 30)
    print(f"exit stress seed {seed}")
    rng = random.Random(seed)
    plan = [Launch(i, path, rng.choice(["dark", "light"]))
            for i, path in enumerate(["shown", "menu"] * (LAUNCHES // 2))]
    rng.shuffle(plan)
    slots = [tmp_path / f"slot{n}" for n in range(PARALLEL)]
    # Launch i runs in slot i % PARALLEL; a slot's launches run one after another (they share its files).
    by_slot = [[launch for k, launch in enumerate(plan) if k % PARALLEL == n] for n in range(PARALLEL)]

    def run_slot(n: int) -> list[Launch]:
        return [_run(launch, slots[n]) for launch in by_slot[n]]

    with ThreadPoolExecutor(PARALLEL) as pool:
        done = [launch for launches in pool.map(run_slot, range(PARALLEL)) for launch in launches]
    assert all(proc.poll() is None for proc in burners), "a burner stopped early: the machine was not busy"
    assert len(done) == LAUNCHES
    assert {launch.path for launch in done} == {"shown", "menu"}
    failed = [f"#{launch.index} {launch.path}/{launch.theme}: {launch.problem}" for launch in done if launch.problem]
    assert not failed, f"{len(failed)} of {LAUNCHES} launches did not exit cleanly (seed {seed}):\n" + "\n".join(
        failed)


@pytest.mark.parametrize("flags", [["--quit-after-shown"], ["--quit-from-menu", "--no-start-stack"]])
def test_nothing_qt_is_left_for_the_interpreter_to_finalize(tmp_path: Path, flags: list[str]) -> None:
    out = subprocess.run([sys.executable, "-X", "faulthandler", "-c", LEFTOVERS, *flags, "--settings",
                          str(tmp_path / "desk.ini"), "--theme", "dark"], cwd=ROOT, env=_desk_env(tmp_path),
                         capture_output=True, text=True, timeout=LAUNCH_TIMEOUT)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    # Every window, panel, chart and timer is gone and so is the QApplication: PySide6's
    # atexit hook (which deletes leftovers in pointer-hash order) has nothing to do.
    assert report == {"rc": 0, "app": False, "left": []}
    assert "theme=dark" in (tmp_path / "desk.ini").read_text()


def test_a_test_session_leaves_nothing_qt_for_the_interpreter_to_finalize(tmp_path: Path) -> None:
    (tmp_path / "test_leaky.py").write_text(LEAKY_TESTS)
    out = subprocess.run([sys.executable, "-X", "faulthandler", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-p", "tests.desk.conftest", str(tmp_path / "test_leaky.py")], cwd=ROOT,
                         env=_desk_env(tmp_path), capture_output=True, text=True, timeout=LAUNCH_TIMEOUT)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "1 passed" in out.stdout
    line = next(x for x in out.stdout.splitlines() if x.startswith("QT LEFT AT EXIT "))
    assert json.loads(line.removeprefix("QT LEFT AT EXIT ")) == {"app": False, "left": []}
