"""Test child: a job that checkpoints, then crashes -- like a Gateway killed mid-run.

    checkpointer.py <file> <days> [--no-progress]

Reads the day count in <file> (0 if absent), completes one more day (writes
it atomically), then exits with code 3; once <days> are done it exits 0.
With ``--no-progress`` it crashes before completing anything.
"""

import os
import sys

path, days = sys.argv[1], int(sys.argv[2])
done = int(open(path).read()) if os.path.exists(path) else 0
if done >= days:
    print(f"all {days} days done")
    sys.exit(0)
if "--no-progress" in sys.argv:
    print(f"stuck at day {done}", file=sys.stderr)
    sys.exit(3)
with open(path + ".tmp", "w") as fh:
    fh.write(str(done + 1))
os.replace(path + ".tmp", path)
print(f"day {done + 1} done; crashing", file=sys.stderr)
sys.exit(3)
