"""Test child: spawns a grandchild (same process group) that ignores SIGTERM, prints its pid.

Options:
    --exit N   exit with code N right after spawning (leaving the grandchild behind)
"""

import argparse
import os
import subprocess
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--exit", type=int, default=None)
args = parser.parse_args()

grandchild = subprocess.Popen(
    [sys.executable, "-c",
     "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: time.sleep(3600)"],
)
print(f"grandchild pid {grandchild.pid}", flush=True)
if args.exit is not None:
    os._exit(args.exit)
while True:
    time.sleep(3600)
