"""Child for test_run_index: rewrites the state files of the given runs as fast as it can, until killed.

    python run_writer_child.py RUNS_DIR SEED RUN_ID...

Prints ``started`` after its first write. With EVOTRADERS_FAILPOINT set it
dies at that atomic write (half written, or written and not renamed).
"""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.storage.history_runs import write_state  # noqa: E402

runs_dir, seed, run_ids = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
rng = random.Random(seed)
seq = 0
while True:
    seq += 1
    write_state(runs_dir / rng.choice(run_ids), rng, seq)
    if seq == 1:
        print("started", flush=True)
