"""An offline synthesis skips the SDK's per-resource stack walk and still captures exactly the same graph."""

from __future__ import annotations

import contextlib
import json
import types
from typing import Any

import pulumi.runtime
import pulumi.runtime.resource as sdk_resource
import pytest

import infra.synth
from infra.synth import synthesize


def _graph(stack: str) -> list[str]:
    """The captured resources, order aside (registration order varies between runs of the event loop)."""
    return sorted(json.dumps(r, sort_keys=True) for r in synthesize(stack).to_json())


def test_no_stack_is_walked_for_a_resource_and_the_sdk_is_left_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    walks: list[int] = []
    real = sdk_resource._get_stack_trace

    def counted() -> Any:
        walks.append(1)
        return real()

    monkeypatch.setattr(sdk_resource, "_get_stack_trace", counted)
    synth = synthesize("dev")
    assert synth.resources and walks == [], f"the SDK walked the stack for {len(walks)} resources"
    assert sdk_resource._get_stack_trace is counted, "the SDK's own function was not put back"


def test_the_graph_is_the_one_captured_with_stack_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _graph("dev")
    monkeypatch.setattr(infra.synth, "_no_stack_traces", contextlib.nullcontext)
    assert _graph("dev") == fast


def test_an_sdk_without_that_stack_walk_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    other_sdk = types.SimpleNamespace()  # a release that registers resources some other way
    monkeypatch.setattr(pulumi.runtime, "resource", other_sdk)
    with infra.synth._no_stack_traces():
        assert vars(other_sdk) == {}
    assert vars(other_sdk) == {}
