"""Process-wide runtime settings shared by every long-running MagFlow process."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """Freeze what start-up built and collect garbage less often than CPython's default.

    MagFlow's processes allocate in bursts of many short-lived containers (a page of 100 orders
    decodes to thousands of dicts; a progress event fans out to a thousand sockets). With the
    default thresholds (700, 10, 10) a generation-2 collection walks every object the process
    holds every ~70,000 allocations: in an API process with a thousand WebSocket clients that
    paused the event loop 130-250 ms every few seconds (``bench/ws_fanout.py``). Freezing the
    start-up objects (they live as long as the process) takes them out of every scan, and
    (10,000, 10, 10) makes full collections 14 times rarer: p99 54 ms there. Much larger
    thresholds were tried and dropped: at (50,000, 50, 1,000) a 100,000-offer sync grew from
    146 to 276 MB (garbage freed late fragments the heap) where these stay flat at ~150 MB
    (``bench/sync_memory.py``), with the same throughput. Call once, at the end of start-up (the
    app's lifespan, ``magflow worker``, ``magflow sync``, the simulator); it affects the whole
    process.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
