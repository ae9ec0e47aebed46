"""The restart rule without processes: a fake clock and a fake progress probe drive RestartTracker.

The rule (backend/supervisor/restart_policy.py): back-off doubles over a crash
streak up to the cap; the process is given up on only after ``max_restarts``
restarts in a row that made no progress (the probe's value unchanged and
the run shorter than ``stable_after``).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.supervisor.process_spec import ProcessSpec, RestartPolicy
from backend.supervisor.restart_policy import RestartTracker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Checkpoint:
    """A probe over a day count the test advances (``None`` before the first day)."""

    def __init__(self) -> None:
        self.days: int | None = None
        self.broken = False

    def __call__(self) -> int | None:
        if self.broken:
            raise OSError("server_state.json unreadable")
        return self.days

    def advance(self) -> None:
        self.days = (self.days or 0) + 1


def tracker(probe=None, **fields) -> tuple[RestartTracker, FakeClock]:
    spec = ProcessSpec("gw", ["x"], progress=probe, **{"restart": RestartPolicy.on_failure, "max_restarts": 3,
                                                        "backoff_base": 0.5, "backoff_cap": 4.0, "stable_after": 30.0,
                                                        **fields})
    clock = FakeClock()
    return RestartTracker(spec, clock), clock


# Each crash: (whole seconds the run lasted -- exact in float arithmetic --, did it checkpoint before dying?)
crashes = st.lists(st.tuples(st.integers(0, 100), st.booleans()), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(crashes)
def test_gives_up_exactly_after_max_restarts_without_progress(history):
    probe = Checkpoint()
    rule, clock = tracker(probe)
    rule.spawned()
    without, streak = 0, 0
    for ran_for, checkpointed in history:
        clock.now += ran_for
        if checkpointed:
            probe.advance()
        decision = rule.ended(None, "killed by SIGKILL")
        stable = ran_for >= 30.0
        without = 0 if (stable or checkpointed) else without
        without += 1
        streak = 0 if stable else streak
        streak += 1
        if without > 3:  # the model's verdict: four restarts in a row got nowhere
            assert decision.delay is None and decision.gave_up and rule.gave_up
            assert decision.message == "gave up after 3 restarts without progress: killed by SIGKILL"
            return
        assert not decision.gave_up and decision.progressed == (stable or checkpointed)
        assert decision.delay == min(4.0, 0.5 * 2 ** (streak - 1))  # back-off follows the crash streak
        rule.spawned()
    assert not rule.gave_up


def test_a_run_that_checkpoints_between_crashes_is_never_given_up_on():
    probe = Checkpoint()
    rule, clock = tracker(probe)
    delays = []
    for _ in range(1000):  # a thousand quick crashes, each after one more day
        rule.spawned()
        clock.now += 0.5
        probe.advance()
        decision = rule.ended(None, "killed by SIGKILL")
        assert decision.delay is not None and decision.progressed
        delays.append(decision.delay)
    assert delays[:5] == [0.5, 1.0, 2.0, 4.0, 4.0] and max(delays) == 4.0  # still backing off


def test_no_checkpoint_at_all_counts_as_no_progress():
    rule, clock = tracker(Checkpoint())  # a fresh run that dies before its first day: None, None, ...
    decisions = []
    for _ in range(4):
        rule.spawned()
        clock.now += 1
        decisions.append(rule.ended(3, "exited with code 3"))
    assert [d.delay for d in decisions] == [0.5, 1.0, 2.0, None]
    assert decisions[-1].gave_up


def test_a_broken_probe_sees_no_progress_and_does_not_break_supervision():
    probe = Checkpoint()
    probe.broken = True
    rule, clock = tracker(probe, max_restarts=1)
    rule.spawned()
    assert rule.ended(None, "killed by SIGKILL").delay == 0.5
    rule.spawned()
    assert rule.ended(None, "killed by SIGKILL").gave_up


def test_a_spawn_that_fails_counts_as_a_crash_without_progress():
    probe = Checkpoint()
    rule, clock = tracker(probe, max_restarts=2)
    rule.spawned()
    probe.advance()
    assert rule.ended(None, "killed by SIGKILL").progressed
    assert rule.not_spawned("not started: port 8000 in use").delay == 1.0
    decision = rule.not_spawned("not started: port 8000 in use")
    assert decision.gave_up and decision.message.endswith("without progress: not started: port 8000 in use")


def test_without_a_probe_only_a_long_run_is_progress():
    rule, clock = tracker(max_restarts=2)
    rule.spawned()
    clock.now += 31
    assert rule.ended(None, "killed by SIGKILL").delay == 0.5  # ran 31 s: a new streak
    rule.spawned()
    clock.now += 1
    assert rule.ended(None, "killed by SIGKILL").delay == 1.0
    rule.spawned()
    assert rule.ended(None, "killed by SIGKILL").gave_up


@pytest.mark.parametrize("policy, code, restarts", [
    (RestartPolicy.never, 3, False), (RestartPolicy.on_failure, 0, False),
    (RestartPolicy.on_failure, 3, True), (RestartPolicy.always, 0, True),
])
def test_the_policy_decides_which_exits_restart(policy, code, restarts):
    rule, _ = tracker(restart=policy)
    rule.spawned()
    decision = rule.ended(code, f"exited with code {code}")
    assert (decision.delay is not None) is restarts and not decision.gave_up
    if not restarts:
        assert decision.message == ("" if code == 0 else "exited with code 3")


def test_reset_forgets_both_streaks():
    rule, _ = tracker(max_restarts=0)
    rule.spawned()
    assert rule.ended(None, "killed by SIGKILL").gave_up
    rule.reset()
    assert not rule.gave_up and rule.streak == 0 and rule.without_progress == 0
