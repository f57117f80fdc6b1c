"""The posture suite's view of its target: the JSON of `pacsguard local status`, or the same shape written for
a deployed host. Run it with `pacsguard verify`; it is not part of the plain `make test` collection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--target", action="store", default=None, help="target description (JSON) to verify")


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> dict[str, Any]:
    path = request.config.getoption("--target")
    if not path:
        pytest.skip("needs --target (run the posture suite through `pacsguard verify`)")
    return json.loads(Path(path).read_text())


@pytest.fixture(scope="session")
def users(target: dict[str, Any]) -> dict[str, dict[str, str]]:
    return json.loads(Path(target["credentials_file"]).read_text())["users"]


@pytest.fixture(scope="session")
def stack(target: dict[str, Any], users: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The target in the shape the probe clients take (credentials attached)."""
    return {**target, "_users": users}


@pytest.fixture(scope="session")
def host(target: dict[str, Any]) -> Any:
    """testinfra host: local by default; any testinfra URL (ssh://, ansible://) for a remote host, or
    nsenter://PID for a host that is a process's namespaces on this machine (a rehearsed EC2 instance)."""
    import testinfra

    from pacsguard.posture.nsenter_backend import register

    register()
    return testinfra.get_host(target.get("host_backend", "local://"))


def user_with_role(users: dict[str, dict[str, str]], role: str) -> str:
    for name, u in users.items():
        if u["role"] == role:
            return name
    pytest.skip(f"the target's credentials file has no user with role {role}")
    raise AssertionError("unreachable")


def in_netns(target: dict[str, Any], command: str) -> str:
    ns = target.get("netns")
    return f"ip netns exec {ns} {command}" if ns else command


def need(target: dict[str, Any], key: str) -> Any:
    """A field host probes need; targets that do not describe it skip those probes, saying which field."""
    if key not in target:
        pytest.skip(f"the target names no {key}")
    return target[key]
