"""A synthesis skips the SDK's per-resource stack walk, and the graph is the one the SDK's own walk gives."""

from __future__ import annotations

import contextlib
import json

import pytest
from pulumi.runtime import resource

from infra import synth_sdk
from infra.synth import synthesize


def _canonical(stack: str) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in synthesize(stack).to_json())


def test_the_graph_is_the_one_the_sdk_s_own_stack_traces_give(monkeypatch: pytest.MonkeyPatch) -> None:
    trimmed = _canonical("prod")
    monkeypatch.setattr(synth_sdk, "without_source_positions", contextlib.nullcontext)
    assert _canonical("prod") == trimmed


def test_no_stack_is_walked_during_a_synthesis_and_the_sdk_walks_again_after(monkeypatch: pytest.MonkeyPatch) -> None:
    walks: list[int] = []
    original = resource._get_stack_trace

    def counted() -> object:
        walks.append(1)
        return original()

    monkeypatch.setattr(resource, "_get_stack_trace", counted)
    synthesize("dev")
    assert walks == [], "the SDK walked the stack for a resource"
    assert resource._get_stack_trace is counted, "the SDK's own function was not put back"
