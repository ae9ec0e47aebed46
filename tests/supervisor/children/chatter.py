"""Test child: prints COUNT numbered lines, then exits 0 (or, with --hold, keeps running).

Usage: chatter.py COUNT [--hold]
"""

import sys
import time

count = int(sys.argv[1])
for i in range(count):
    print(f"chatter {i}", flush=True)
if "--hold" in sys.argv:
    while True:
        time.sleep(3600)
