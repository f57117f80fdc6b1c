"""Pause Python's cyclic garbage collector around a synthesis, and keep it off a heap the process is about to drop.

Importing pulumi-aws creates several hundred thousand long-lived objects (its Args and output classes), and a
synthesis allocates tens of thousands of short-lived ones (tasks, outputs, futures). Every young-generation overflow
then sets off collections that walk the long-lived heap again: on this project's prod stack that was about 40 % of
a cold plan (benchmarks/plan_timing.py measures both). The garbage a synthesis leaves is mostly acyclic and freed
by reference counting; the rest (a few MB) is collected as usual once the collector runs again.

While the collector is off, every object made stays in the youngest generation: the first collection afterwards
walks all of them (~0.25 s after a prod synthesis), and an exiting interpreter collects the whole heap more than once
(~1 s of CPU). A process that ends after the block (the `pacsguard` console script) asks for `freeze=True`: what
exists then moves to the permanent generation, which no collection walks.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc(*, freeze: bool = False) -> Iterator[None]:
    """Disable the cyclic collector inside the block; restore the caller's setting after, even on error.

    `freeze`: leave every object alive at the end out of all later collections (a process about to exit only);
    in a long-lived process it would keep the block's cyclic garbage for good."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()
