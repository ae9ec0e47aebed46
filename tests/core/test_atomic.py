import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from backend.storage.atomic import atomic_write_json

CHILD = Path(__file__).with_name("atomic_writer_child.py")


def test_a_writer_killed_at_any_instant_leaves_a_whole_file(tmp_path):
    target = tmp_path / "state" / "server_state.json"
    rng = random.Random(1234)
    seen = set()
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, str(CHILD), str(target)], stdout=subprocess.PIPE, text=True,
                                cwd=Path(__file__).resolve().parents[2])
        assert proc.stdout.readline().strip() == "started"
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = json.loads(target.read_text())  # never torn
        assert data["seq"] == data["end"] and len(data["blob"]) == 20000
        seen.add(data["seq"])
    assert len(seen) > 1  # the kills really landed at different moments
    leftovers = [p.name for p in target.parent.iterdir() if p.name != target.name]
    # Temp files of killed writers may remain, but they are hidden dot-files, never the target.
    assert all(name.startswith(".server_state.json.") for name in leftovers)


def test_atomic_write_replaces_and_is_readable(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_json(target, {"x": 1})
    atomic_write_json(target, {"x": 2})
    assert json.loads(target.read_text()) == {"x": 2}
    assert oct(target.stat().st_mode & 0o777) == "0o644"
