"""A container or Pod Gateway is restarted by exactly the rule a child process is (property test).

:class:`SupervisedWorkload` drives docker containers and Pods; here it drives
an in-memory attempt whose exits and progress hypothesis chooses (the one
stand-in of this file: the docker and kubernetes tests run the real
thing, this explores the sequences). Whatever the sequence, the restarts it
makes, when it gives up and its final status are those of the supervisor's
own :class:`RestartTracker` fed the same exits, and every line of every
attempt reaches the log file.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings, strategies as st

from backend.control_plane.gateway_launchers.workload import SupervisedWorkload, WorkloadError
from backend.supervisor.process_spec import ProcessSpec, ProcessStatus, RestartPolicy
from backend.supervisor.restart_policy import RestartTracker


class ScriptedAttempts:
    """Attempts that end when the test says, with the exit status it says."""

    health_url = None
    port = 8765

    def __init__(self) -> None:
        self.attempts = 0
        self.ident: str | None = None
        self.closed = False
        self.exit: asyncio.Future[int] | None = None

    async def create(self) -> None:
        self.attempts += 1
        self.ident = f"attempt-{self.attempts}"
        self.exit = asyncio.get_running_loop().create_future()

    async def wait_exit(self, sink) -> int:  # type: ignore[no-untyped-def]
        sink(f"hello from {self.ident}")
        return await self.exit

    async def terminate(self, grace: float) -> None:
        if self.exit is not None and not self.exit.done():
            self.exit.set_result(-15)

    async def remove(self) -> None:
        pass

    async def close(self) -> None:
        self.closed = True


EXITS = st.lists(st.tuples(st.sampled_from([1, -9, 0]), st.booleans()), min_size=1, max_size=12)
SETTLED = (ProcessStatus.healthy, ProcessStatus.crashed, ProcessStatus.stopped)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(exits=EXITS, max_restarts=st.integers(0, 4))
def test_restarts_and_giving_up_follow_the_supervisors_rule(tmp_path, exits, max_restarts):
    asyncio.run(_scenario(tmp_path, exits, max_restarts))


async def _scenario(tmp_path, exits, max_restarts) -> None:
    progress = [0]
    fields = dict(name="gateway-prop", argv=["gateway"], restart=RestartPolicy.on_failure, max_restarts=max_restarts,
                  backoff_base=0.0, backoff_cap=0.0, stable_after=1e9, progress=lambda: progress[0])
    log_path = tmp_path / f"gw-{len(list(tmp_path.iterdir()))}.log"
    reference = RestartTracker(ProcessSpec(**fields))
    attempts = ScriptedAttempts()
    handle = SupervisedWorkload(ProcessSpec(log_path=log_path, **fields), attempts)
    await handle.start()
    reference.spawned()
    restarts, final, gave_up = 0, None, False
    for code, progressed in exits:
        assert await asyncio.wait_for(handle.wait_status(*SETTLED), 10) is ProcessStatus.healthy
        if progressed:  # the run checkpointed during this attempt
            progress[0] += 1
        attempts.exit.set_result(code)
        decision = reference.ended(code, "ended")
        if decision.delay is None:
            final = ProcessStatus.stopped if code == 0 and not decision.gave_up else ProcessStatus.crashed
            gave_up = decision.gave_up
            break
        restarts += 1
        reference.spawned()
        await asyncio.wait_for(_until_restarted(handle, restarts), 10)
    if final is None:  # still running: a stop ends it and removes everything
        await handle.stop()
        final = ProcessStatus.stopped
        assert attempts.closed
    else:
        await asyncio.wait_for(handle.wait_status(final), 10)
    assert (handle.status, handle.restarts, handle.gave_up) == (final, restarts, gave_up)
    assert attempts.attempts == restarts + 1
    written = log_path.read_text()
    assert all(f"hello from attempt-{n}" in written for n in range(1, attempts.attempts + 1))


async def _until_restarted(handle: SupervisedWorkload, restarts: int) -> None:
    while handle.restarts < restarts or handle.status is not ProcessStatus.healthy:
        await handle.wait_status(ProcessStatus.healthy, ProcessStatus.restarting, ProcessStatus.starting,
                                 timeout=10)
        await asyncio.sleep(0)
