"""Child for test_atomic: rewrites one JSON file as fast as it can, forever."""

import sys
from pathlib import Path

from backend.storage.atomic import atomic_write_json

target = Path(sys.argv[1])
i = 0
while True:
    i += 1
    # A payload big enough that a non-atomic write would often be caught half-done.
    atomic_write_json(target, {"seq": i, "blob": [i] * 20000, "end": i})
    if i == 1:
        print("started", flush=True)
