"""A scratch copy of the project and an `evotraders stack up --reload` running from it (tests and bench)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import httpx

ROOT = Path(__file__).resolve().parents[2]
ALL_FREE = "agent=0,trading=0,news=0,runtime=0"
COPIED = ("backend", "gateway", "resources", "pyproject.toml")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")


def scratch_copy(dest: Path) -> Path:
    """The code trees a stack runs (backend/, gateway/, resources/), copied to ``dest``; never the real tree."""
    dest.mkdir(parents=True)
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORED)
        else:
            shutil.copy2(src, dest / name)
    return dest


def edit(path: Path, old: str, new: str) -> float:
    """Replace ``old`` (once) in ``path`` as an editor saves it; returns when it was written (monotonic)."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(text.replace(old, new))
    return time.monotonic()


class ReloadStack:
    """``python -m backend.cli.main stack up --reload ...`` run from a scratch copy, its output read on a thread.

    Its data roots live under ``home`` (runs/, ws/, .stack/ with the generated tokens).
    """

    def __init__(self, repo: Path, home: Path, *args: str) -> None:
        self.repo, self.home = repo, home
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVOTRADERS_")}
        env.update(RUNS_DIR=str(home / "runs"), WORKSPACES_DIR=str(home / "ws"), PYTHONUNBUFFERED="1",
                   PYTHONDONTWRITEBYTECODE="1")
        env.pop("PYTHONPATH", None)
        self.env = env
        # -m with cwd = the copy: the copy's packages come first on sys.path (the venv's editable
        # install of the real tree only answers for what the copy lacks).
        self.proc = subprocess.Popen([sys.executable, "-m", "backend.cli.main", "stack", "up", "--reload",
                                      "--ports", ALL_FREE, *args], cwd=repo, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.urls: dict[str, str] = {}

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def wait_line(self, needle: str, timeout: float = 90.0, start: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[start:]:
                if needle in line:
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not seen in the stack's output:\n" + "\n".join(self.lines))

    def wait_up(self) -> None:
        self.wait_line("Press Ctrl-C")
        for line in self.lines:
            parts = line.split()
            if len(parts) == 2 and parts[0] in ("agent", "trading", "news", "runtime") and parts[1].startswith("http"):
                self.urls[parts[0]] = parts[1]
        assert set(self.urls) == {"agent", "trading", "news", "runtime"}, self.lines

    @property
    def admin_token(self) -> str:
        return json.loads((self.home / ".stack" / "tokens.json").read_text())["admin"]

    def get(self, service: str, path: str) -> httpx.Response:
        return httpx.get(self.urls[service] + path, headers={"Authorization": f"Bearer {self.admin_token}"},
                         timeout=5.0, trust_env=False)

    def poll(self, what: str, probe: Callable[[], Any], timeout: float = 60.0, every: float = 0.02) -> Any:
        """``probe()``'s first truthy value (exceptions count as not yet), within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                value = probe()
            except (httpx.HTTPError, OSError, ValueError, KeyError) as err:
                value, last = None, err
            if value:
                return value
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last!r})\n"
                             + "\n".join(self.lines[-30:]))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        return self.proc.returncode


def events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "logs" / "events.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line being written
    return out
