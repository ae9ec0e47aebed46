"""The garbage collector's settings for a process that runs one run (``evotraders backtest``, a Gateway).

A trading day allocates tens of thousands of short-lived objects (events,
their pydantic parts, skill payloads). With CPython's default thresholds
(700, 10, 10) the youngest generation is collected every few hundred
allocations and, every hundred of those, the whole heap is traversed: the
imported modules, pydantic's schemas, numpy, the market's bars, everything
built before the first day. Those objects live as long as the process, so
:func:`for_one_run` moves them out of the collector's sight (``gc.freeze``)
and collects the young generation less often. Reference cycles are still
collected, later (at most ``GEN0_THRESHOLD`` allocations); nothing a run
computes depends on when.

Not for a process with Qt (the desk has its own policy, ``app/qt/gc_policy.py``).
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 10_000  # allocations between young collections (CPython: 700)
GEN1_THRESHOLD = 20      # young collections between middle ones (CPython: 10)
GEN2_THRESHOLD = 20      # middle collections between full ones (CPython: 10)


def for_one_run() -> None:
    """Freeze what is alive (the process's long-lived setup), then collect the young less often.

    Call it once the run's engine is built, just before its days run.
    Automatic collection stays as it was (on, unless a caller turned it off).
    No ``gc.collect()`` first: after a backtest's setup it found nothing to
    free and took ~0.1 s, a tenth of a 1-year run (whatever garbage the setup
    left in a cycle stays frozen, as small as the setup).
    """
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
