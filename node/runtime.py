"""The node's interpreter, set up for a long-running server."""
from __future__ import annotations

import gc

# Container objects allocated between two collections of the youngest generation (Python's
# default is 700). Executing one ERC-20 transfer allocates thousands: the default collected
# several times a transaction, each time walking every young object, for garbage that
# reference counting frees anyway (py-evm's cycles are few). (50,000, 20, 100): 2-3% more
# transfers a second in process (bench/throughput.py's (a), run under the same settings).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Fewer, larger garbage collections, and none over what the process loaded to start
    (modules, genesis, caches: frozen out of every later full collection's walk)."""
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
