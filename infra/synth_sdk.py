"""Skip SDK work whose result a synthesis under mocks never reads.

For every resource the SDK walks the whole Python stack (`traceback.extract_stack`, which reads and line-caches
each frame's source file) to send the engine the resource's source position and stack trace. The mocks' monitor
drops both and the captured graph has neither, so inside a synthesis the SDK gets an empty trace instead
(tests/infra/test_synth_sdk.py: the graph is the same with the SDK's own). About 0.1 s of a prod synthesis.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pulumi.runtime import resource
from pulumi.runtime.proto import source_pb2


def _no_stack_trace() -> source_pb2.StackTrace:
    return source_pb2.StackTrace()


@contextmanager
def without_source_positions() -> Iterator[None]:
    """Inside the block, resources are registered without the caller's stack trace or source position."""
    before = resource._get_stack_trace  # a module-level function the SDK looks up per resource; restored after
    resource._get_stack_trace = _no_stack_trace
    try:
        yield
    finally:
        resource._get_stack_trace = before
