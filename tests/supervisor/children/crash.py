"""Test child: prints a few lines (the last on stderr) and exits with code 3 (or argv[1])."""

import sys

code = int(sys.argv[1]) if len(sys.argv) > 1 else 3
for i in range(5):
    print(f"working {i}")
print("fatal: boom", file=sys.stderr)
sys.exit(code)
