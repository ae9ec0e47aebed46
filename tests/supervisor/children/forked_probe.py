"""Test child for the fork server: prints what a supervisor and a user would check, then acts.

Usage: python -m tests.supervisor.children.forked_probe ACTION [ARG]
  ACTION = hold (run until signalled) | exit CODE | raise
Prints ``pid=<pid> sid=<sid> ppid=<ppid> cwd=<cwd> marker=<$PROBE_MARKER> argv=<argv[1:]>``
and ``preloaded=<whether tests.supervisor.children.preload_marker was already imported>``.
"""

import os
import sys
import time

preloaded = "tests.supervisor.children.preload_marker" in sys.modules
print(f"pid={os.getpid()} sid={os.getsid(0)} ppid={os.getppid()} cwd={os.getcwd()} "
      f"marker={os.environ.get('PROBE_MARKER', '')} argv={' '.join(sys.argv[1:])}", flush=True)
print(f"preloaded={preloaded}", flush=True)
action = sys.argv[1]
if action == "exit":
    sys.exit(int(sys.argv[2]))
if action == "raise":
    raise RuntimeError("probe failed on purpose")
while True:
    time.sleep(3600)
