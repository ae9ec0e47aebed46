"""Test child: a supervisor process that has the fork server at ADDRESS fork a holding probe.

Usage: fork_requester.py ADDRESS CWD
Prints ``probe pid <pid>`` once the probe runs, then waits to be killed.
"""

import asyncio
import sys

from backend.supervisor import ProcessSpec, ProcessSupervisor


async def main() -> None:
    sup = ProcessSupervisor(forkserver=sys.argv[1])
    sup.add(ProcessSpec(name="probe", argv=[sys.executable, "-m", "tests.supervisor.children.forked_probe", "hold"],
                        cwd=sys.argv[2]))
    proc = await sup.start("probe")
    print(f"probe pid {proc.pid}", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
