"""The garbage collector of a long-running service process, set once it has started.

Measured in a storm of VM creates (docs/benchmarks.md, issue 18): the
service's heap holds ~440,000 tracked objects, most of them made at start
(modules, routes, mapped classes) or long-lived (a host agent's long-poll
is a chain of ~15 coroutines).  A page of 1,000 servers makes ~40,000
containers that live a few milliseconds, long enough, at CPython's default
first threshold of 700, to be promoted twice; every few pages the old
generation passed its 25 % rule, and a full collection walked the whole
heap: 49 of them in one storm, 200-330 ms each, every user request stalled
meanwhile, and almost nothing freed.

So: what exists once the process has started is frozen (never walked
again; it lives as long as the process), and the first threshold is raised
so that a request's garbage dies young.  Reference counting frees almost
everything anyway; the collector is only for cycles.
"""

from __future__ import annotations

import gc

YOUNG = 50_000  # allocations between two collections of the young generation


def settle() -> None:
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
