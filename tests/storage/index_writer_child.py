"""Child for test_run_index: lists runs through a persisted RunIndex (racy window 0) until its failpoint kills it.

    python index_writer_child.py RUNS_DIR
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from backend.storage import run_index  # noqa: E402

index = run_index.RunIndex(Path(sys.argv[1]), racy_s=0.0)
for _ in range(10_000):
    index.rows()
    index.invalidate()  # every listing rebuilds and rewrites the index file
print("never killed", flush=True)
