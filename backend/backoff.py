"""The one back-off rule: how long to wait before attempt N of a streak.

Used by the desk's Gateway reconnects (``app/net/gateway_client.py``) and by
the process supervisor's restarts (``backend/supervisor/restart_policy.py``).
The delay grows geometrically from ``base`` and is capped; attempt 0 (or
less) waits nothing. Written here rather than taken from ``backoff`` or
``tenacity``: both wrap a call in a retry loop, while our callers need only
the delay (the desk shows it as "retrying in 3 s"; the supervisor records it
in the run's progress), and the formula is one line.
"""

from __future__ import annotations


def backoff_delay(attempt: int, base: float, cap: float, factor: float = 2.0) -> float:
    """Seconds before attempt ``attempt`` (1, 2, ...): ``base * factor**(attempt-1)``, at most ``cap``."""
    if attempt <= 0:
        return 0.0
    return min(cap, base * factor ** min(attempt - 1, 64))
