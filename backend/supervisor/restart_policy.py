"""When a supervised process that ended is spawned again: back-off, progress, giving up.

:class:`RestartTracker` is the bookkeeping of one :class:`ManagedProcess`,
kept free of processes and sleeping so the rule can be driven by a test
with a fake clock and a fake progress probe.

The rule, with two counters:

- **back-off** (the crash streak): every end of a run shorter than
  ``stable_after`` doubles the delay before the next spawn, from
  ``backoff_base`` up to ``backoff_cap``; a run that lasted ``stable_after``
  starts a new streak.
- **giving up** (the no-progress streak): a restart *made progress* when the
  run it started lasted ``stable_after`` or the progress probe's value
  changed between its spawn and its end (for a Gateway: the resume
  checkpoint's day count). Progress resets the streak; after
  ``max_restarts`` restarts in a row without progress the process stays
  down. Without a probe, only the duration counts.

So a run that keeps checkpointing between crashes is restarted for ever
(each restart after at most ``backoff_cap`` seconds), and one that crashes
before getting anywhere is given up on after ``max_restarts`` tries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from backend.backoff import backoff_delay
from backend.supervisor.process_spec import ProcessSpec, RestartPolicy

log = logging.getLogger(__name__)

Clock = Callable[[], float]

# A child that exits with this code asks to be started again at once (EX_TEMPFAIL): a Gateway
# after ``restart_at_day_boundary`` (its source changed under ``stack up --reload``). Not a crash:
# no back-off, and it counts as progress.
RESTART_REQUESTED_EXIT = 75
ProgressProbe = Callable[[], Hashable]


@dataclass(frozen=True)
class RestartDecision:
    """What to do after a run ended.

    Args:
        delay: seconds to wait before spawning again, or None to stay down.
        message: one line for humans ("" when nothing needs saying).
        progressed: the run that just ended made progress (see the module docstring).
        gave_up: staying down because restarts stopped making progress.
    """

    delay: float | None
    message: str = ""
    progressed: bool = False
    gave_up: bool = False


class RestartTracker:
    """Decides, run after run, whether and when a process is spawned again.

    Args:
        spec: restart policy, ``max_restarts``, back-off and ``stable_after``, and
            the optional ``progress`` probe (a callable returning a hashable value
            that changes when the child got somewhere; it may raise, which counts
            as no progress).
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, spec: ProcessSpec, clock: Clock = time.monotonic) -> None:
        self.spec = spec
        self.clock = clock
        self.streak = 0  # crashes in the current back-off streak
        self.without_progress = 0  # restarts in a row that made no progress
        self.gave_up = False
        self._spawned_at: float | None = None
        self._mark: Hashable = None

    def reset(self) -> None:
        """A fresh start (``start()`` on request): both streaks begin again."""
        self.streak = 0
        self.without_progress = 0
        self.gave_up = False
        self._spawned_at = None

    def spawned(self) -> None:
        """A run has just been spawned: remember when, and where the probe stood."""
        self._spawned_at = self.clock()
        self._mark = self._probe()

    def ended(self, exit_code: int | None, reason: str) -> RestartDecision:
        """The run spawned last ended on its own (``exit_code`` None: killed by a signal)."""
        ran_for = 0.0 if self._spawned_at is None else max(0.0, self.clock() - self._spawned_at)
        self._spawned_at = None
        spec = self.spec
        if spec.restart is RestartPolicy.never or (spec.restart is RestartPolicy.on_failure and exit_code == 0):
            return RestartDecision(None, "" if exit_code == 0 else reason)
        if exit_code == RESTART_REQUESTED_EXIT:
            self.streak = self.without_progress = 0
            self._mark = self._probe()
            return RestartDecision(0.0, "restart requested", progressed=True)
        stable = ran_for >= spec.stable_after
        moved = self._moved()
        if stable:
            self.streak = 0
        self.streak += 1
        if stable or moved:
            self.without_progress = 0
        self.without_progress += 1
        if self.without_progress > spec.max_restarts:
            self.gave_up = True
            return RestartDecision(None, f"gave up after {spec.max_restarts} restarts without progress: {reason}",
                                   progressed=False, gave_up=True)
        return RestartDecision(backoff_delay(self.streak, spec.backoff_base, spec.backoff_cap),
                               progressed=stable or moved)

    def not_spawned(self, reason: str) -> RestartDecision:
        """A restart could not even spawn (port taken, command gone): a crash with no progress."""
        self._spawned_at = self.clock()
        return self.ended(None, reason)

    # -- the probe ----------------------------------------------------------------

    def _probe(self) -> Hashable:
        probe = self.spec.progress
        if probe is None:
            return None
        try:
            return probe()
        except Exception:  # a broken probe must not break supervision: it just sees no progress
            log.exception("progress probe of process %s failed", self.spec.name)
            return None

    def _moved(self) -> bool:
        if self.spec.progress is None:
            return False
        now = self._probe()
        moved = now is not None and now != self._mark
        self._mark = now
        return moved
