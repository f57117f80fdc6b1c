"""Pause Python's cyclic garbage collector around a synthesis.

Importing pulumi-aws creates several hundred thousand long-lived objects (its Args and output classes), and a
synthesis allocates tens of thousands of short-lived ones (tasks, outputs, futures). Every young-generation overflow
then sets off collections that walk the long-lived heap again: on this project's prod stack that was about 40 % of
a cold plan (benchmarks/plan_timing.py measures both). The garbage a synthesis leaves is mostly acyclic and freed
by reference counting; the rest (a few MB) is collected as usual once the collector runs again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector inside the block; restore the caller's setting after, even on error."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
