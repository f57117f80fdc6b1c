"""A pytest plugin for `pacsguard verify`: each posture test's outcome becomes a finding of its control."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

RESULTS_OPTION = "--verify-results"


def pytest_configure(config: pytest.Config) -> None:
    # Registered here, not only in pyproject.toml: a wheel install runs the suite without the checkout's config.
    config.addinivalue_line("markers", "control(id): the catalog control a posture test checks")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(RESULTS_OPTION, action="store", default=None, help="write one JSON line per posture test here")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marks = [m.args[0] for m in item.iter_markers("control")]
        if not marks:
            raise pytest.UsageError(f"posture test {item.nodeid} names no control (add @pytest.mark.control('ID'))")
        item.user_properties.append(("controls", marks))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    outcome = yield
    report = outcome.get_result()
    path = item.config.getoption(RESULTS_OPTION)
    if not path:
        return
    finished = report.when == "call" or (report.when == "setup" and not report.passed)
    if not finished:
        return
    if report.passed:
        status, message = "pass", item.name
    elif report.skipped:
        status = "skipped"
        message = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
    else:
        status = "fail" if report.when == "call" else "error"
        crash = getattr(report.longrepr, "reprcrash", None)
        message = crash.message if crash else str(report.longrepr)[-400:]
    controls = dict(item.user_properties).get("controls", [])
    with Path(path).open("a") as fh:
        for control in controls:
            fh.write(
                json.dumps({"control": control, "status": status, "probe": item.name, "message": message.strip()})
                + "\n"
            )
