"""Shared fixtures: offline syntheses of the dev and prod stacks (one per test session)."""

from __future__ import annotations

import pytest

from infra.synth import Synthesis, synthesize


@pytest.fixture(scope="session")
def dev() -> Synthesis:
    return synthesize("dev")


@pytest.fixture(scope="session")
def prod() -> Synthesis:
    return synthesize("prod")


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack(request: pytest.FixtureRequest, dev: Synthesis, prod: Synthesis) -> Synthesis:
    return {"dev": dev, "prod": prod}[request.param]
