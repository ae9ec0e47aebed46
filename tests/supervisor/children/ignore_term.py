"""Test child: ignores SIGTERM and sleeps until killed."""

import os
import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(f"ignoring SIGTERM pid {os.getpid()}", flush=True)
while True:
    time.sleep(3600)
