"""`stack up --reload`: seconds from a saved route to its new answer, beside restarting the stack by hand.

    .venv/bin/python bench/reload_latency.py [--repeats 3]

Runs from a scratch copy of the project (the real tree is never edited):
a route of agent_service is edited and polled until it answers the new text.
Baseline, in the same run: the same edit followed by what a developer did
before -- stop the stack (Ctrl-C) and start it again -- until the route
answers. Prints the load average with the figures (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.stack.reload_support import ReloadStack, edit, scratch_copy  # noqa: E402

PROBE = '''

@router.get("/reload-probe")
def reload_probe(role: ViewerDep) -> dict[str, str]:
    return {"answer": "v0"}
'''


def answer(stack: ReloadStack) -> str:
    return stack.get("agent", "/reload-probe").json()["answer"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        repo = scratch_copy(home / "repo")
        routes = repo / "backend" / "apps" / "agent_service" / "workspaces.py"
        routes.write_text(routes.read_text() + PROBE)
        version = 0
        reload_s, manual_s = [], []
        stack = ReloadStack(repo, home, "--no-run")
        try:
            stack.wait_up()
            for _ in range(args.repeats):
                saved = edit(routes, f'"v{version}"', f'"v{version + 1}"')
                version += 1
                stack.poll("the new answer", lambda v=version: answer(stack) == f"v{v}", timeout=60, every=0.01)
                reload_s.append(time.monotonic() - saved)
        finally:
            stack.stop()
        for _ in range(args.repeats):
            saved = edit(routes, f'"v{version}"', f'"v{version + 1}"')
            version += 1
            stack.stop()  # what a developer did: Ctrl-C, then stack up again
            stack = ReloadStack(repo, home, "--no-run")
            stack.wait_up()
            stack.poll("the new answer", lambda v=version: answer(stack) == f"v{v}", timeout=60, every=0.01)
            manual_s.append(time.monotonic() - saved)
        stack.stop()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    print(f"file saved -> new answer, stack up --reload:      median {statistics.median(reload_s):.2f} s  "
          f"({', '.join(f'{x:.2f}' for x in reload_s)})")
    print(f"file saved -> new answer, stack restarted by hand: median {statistics.median(manual_s):.2f} s  "
          f"({', '.join(f'{x:.2f}' for x in manual_s)})")
    print(f"ratio {statistics.median(manual_s) / statistics.median(reload_s):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
