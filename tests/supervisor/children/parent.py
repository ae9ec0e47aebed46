"""Test parent: runs a ProcessSupervisor with one SIGTERM-ignoring child, prints the
child's pid, then waits to be SIGKILLed by the test."""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from backend.supervisor import ProcessSpec, ProcessSupervisor  # noqa: E402

CHILD = Path(__file__).with_name("ignore_term.py")


async def main() -> None:
    sup = ProcessSupervisor()
    proc = sup.add(ProcessSpec("orphan-candidate", [sys.executable, str(CHILD)]))
    await proc.start()
    # Wait until the child runs its own code (past the preexec hook).
    async for line in proc.follow(backlog=10):
        if line.startswith("ignoring SIGTERM"):
            break
    print(f"child pid {proc.pid}", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
