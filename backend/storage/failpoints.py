"""Failpoints: SIGKILL this process at a named point of a writer (fault-injection tests).

    EVOTRADERS_FAILPOINT="event_log.mid_line:7,atomic.before_rename:3"

kills the process in the middle of the 7th line the event log hands to the
OS (after half of its bytes are written), or, whichever comes first, between
writing and renaming the 3rd atomic file write. Points:

- ``event_log.mid_line``, ``trades.mid_line``, ``memory.mid_line``: the n-th
  line of that JSONL file, half written.
- ``atomic.mid_write``: the n-th atomic write, its temporary file half written.
- ``atomic.before_rename``: the n-th atomic write, written and fsynced, not renamed.

The variable is read once, at import; when it is unset ``ACTIVE`` is False
and writers skip every other call here, so production pays one attribute test.
"""

from __future__ import annotations

import os
import signal
from typing import NoReturn

ENV = "EVOTRADERS_FAILPOINT"
POINTS = frozenset({"event_log.mid_line", "trades.mid_line", "memory.mid_line",
                    "atomic.mid_write", "atomic.before_rename"})


def parse(text: str) -> dict[str, int]:
    """``"name:n,name:n"`` as ``{name: n}``; ValueError naming the bad entry."""
    points: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, count = item.partition(":")
        if name not in POINTS:
            raise ValueError(f"{ENV}: unknown failpoint {name!r} (known: {', '.join(sorted(POINTS))})")
        if not sep or not count.isdigit() or int(count) < 1:
            raise ValueError(f"{ENV}: {item!r} needs a hit number >= 1, as in {name}:7")
        points[name] = int(count)
    return points


_targets = parse(os.environ.get(ENV, ""))
_hits: dict[str, int] = {}
ACTIVE = bool(_targets)


def advance(name: str, n: int = 1) -> int | None:
    """Count ``n`` more hits of ``name``; the 0-based position among them of the armed hit, if there.

    Only call when ``ACTIVE``.
    """
    target = _targets.get(name)
    before = _hits.get(name, 0)
    _hits[name] = before + n
    if target is None or not before < target <= before + n:
        return None
    return target - before - 1


def crash() -> NoReturn:
    """Die at once, as a power cut or the OOM killer would: no flush, no cleanup."""
    os.kill(os.getpid(), signal.SIGKILL)
    os._exit(137)  # not reached: SIGKILL to oneself is delivered before kill() returns
