"""The structure import-linter pins (pyproject.toml): backend/ and gateway/ never import Qt,
qasync, pyqtgraph or the desktop app; app > gateway > backend; backend's layers; the desk's
models and clients Qt-free; the schema on pydantic alone."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert len(contracts) >= 5
    assert f"{len(contracts)} kept, 0 broken" in proc.stdout


def test_importing_the_whole_backend_loads_no_qt():
    code = ("import sys, pkgutil, importlib, backend, gateway\n"
            "for pkg in (backend, gateway):\n"
            "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
            "        if not m.name.endswith('__main__'):\n"
            "            importlib.import_module(m.name)\n"
            "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('PySide6', 'qasync', 'pyqtgraph', 'app'))\n"
            "print(bad)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
