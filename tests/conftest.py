"""Shared fixtures: offline syntheses of the dev and prod stacks (one per test session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.synth import Synthesis, synthesize


@pytest.fixture(scope="session", autouse=True)
def _plan_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`pacsguard plan` caches syntheses; tests keep theirs in a temporary folder, never in the user's home."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PACSGUARD_CACHE_DIR", str(tmp_path_factory.mktemp("plan-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def dev() -> Synthesis:
    return synthesize("dev")


@pytest.fixture(scope="session")
def prod() -> Synthesis:
    return synthesize("prod")


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack(request: pytest.FixtureRequest, dev: Synthesis, prod: Synthesis) -> Synthesis:
    return {"dev": dev, "prod": prod}[request.param]
