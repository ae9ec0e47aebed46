"""How the runtime controller restarts a run's Gateway: limits and the progress probe.

A Gateway that crashes is spawned again and resumes its run from the
checkpoint of the last completed day. A run whose checkpoint advances
between crashes is therefore getting somewhere and is restarted for ever
(with back-off); only ``max_restarts`` crashes in a row without a new
checkpoint (and each shorter than ``stable_after``) make the controller give
up -- see :mod:`backend.supervisor.restart_policy`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.storage.run_store import RunStore


@dataclass(frozen=True)
class GatewayRestartPolicy:
    """The restart limits of every Gateway a controller spawns (see the module docstring)."""

    max_restarts: int = 5
    backoff_base: float = 0.3
    backoff_cap: float = 5.0
    stable_after: float = 30.0

    def spec_fields(self) -> dict[str, Any]:
        return {"max_restarts": self.max_restarts, "backoff_base": self.backoff_base,
                "backoff_cap": self.backoff_cap, "stable_after": self.stable_after}


def checkpoint_probe(store: RunStore, run_id: str) -> Callable[[], tuple[int, str] | None]:
    """A probe returning the run's resume checkpoint as (days completed, last completed day), or None.

    The checkpoint is the ``resume`` object of ``state/server_state.json``,
    written (atomically) at the end of each completed day.
    """

    def probe() -> tuple[int, str] | None:
        resume = (store.read_server_state(run_id) or {}).get("resume")
        if not isinstance(resume, dict) or resume.get("days_completed") is None:
            return None
        return int(resume["days_completed"]), str(resume.get("last_completed_date") or "")

    return probe
