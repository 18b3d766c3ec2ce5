"""The garbage collector of a serving worker (issue 20).

A hook call parses its body into a tree of dicts and lists: about 150,000 containers for a
patient of 3,000 Observations. Python's cyclic garbage collector counts every one of them; with
its default settings it collects the first generation after every 700 allocations and, as the
tree survives until the answer is written, moves it on into the older generations, whose
collections walk every container the process holds, the start-up objects included (modules,
code tables, the UCUM registry, the JSON schemas). `benchmarks/profile_hook.py` measured 97 ms
of collection in one such call, more than its parsing and mapping together; 0.1 ms for the
84 kB body of 143 Observations.

The trees of a hook call are freed by reference counting when the call ends (they hold no
cycles), so the collector has little to find in them. Once a worker has loaded the
application, `settle_after_start` takes the start-up objects out of the collector's sight
(gc.freeze: they live as long as the process anyway) and lets 50,000 allocations pass between
first-generation collections. Cycles are still collected, only later; nothing is lost.
"""

from __future__ import annotations

import atexit
import gc

FIRST_GENERATION_THRESHOLD = 50_000


def settle_after_start() -> None:
    """Call once per worker process, after the application is loaded, before it serves."""
    gc.collect()  # what start-up left behind is freed, not frozen
    gc.freeze()
    gc.set_threshold(FIRST_GENERATION_THRESHOLD, *gc.get_threshold()[1:])
    # back in the collector's sight before the interpreter tears the modules down: frozen
    # objects freed at that late stage call logging's handler callbacks after logging is gone
    # ("Exception ignored in: _removeHandlerRef" on stderr, a line that is not JSON)
    atexit.register(gc.unfreeze)
