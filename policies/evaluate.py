"""Run every plan check over a resource graph and turn outcomes into findings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from policies.catalog import controls
from policies.graph import PlanGraph
from policies.model import BLOCKING, ENDPOINT, Control, Finding


def evaluate(graph: PlanGraph, selected: Iterable[Control] | None = None) -> list[Finding]:
    findings = []
    for ctl in selected or controls():
        if ctl.plan is None:
            continue
        try:
            outcomes = ctl.evaluate(graph)
        except Exception as exc:  # a broken check is an error finding, never a silent pass
            findings.append(
                Finding(ctl.id, "error", ctl.severity, "stack", f"check failed: {exc.__class__.__name__}: {exc}")
            )
            continue
        findings += [Finding(ctl.id, o.status, ctl.severity, o.resource, o.message, o.cause) for o in outcomes]
    return findings


def summary(findings: list[Finding]) -> dict[str, object]:
    status = Counter(f.status for f in findings)
    failed_controls = sorted({f.control for f in findings if f.status == "fail"})
    return {
        "findings": dict(sorted(status.items())),
        "controls_checked": len({f.control for f in findings}),
        "controls_failed": failed_controls,
        "blocking": sorted({f.control for f in blocking(findings)}),
    }


def blocking(findings: list[Finding], allow_skipped: bool = False) -> list[Finding]:
    """The findings that make a run exit 1: a critical or high control that fails, errs, or lacks evidence.

    `allow_skipped` waives only what the endpoint cannot answer (an emulator without an API), never a denied call,
    a failed call or an empty scope.
    """

    def waived(f: Finding) -> bool:
        return allow_skipped and f.status == "skipped" and f.cause == ENDPOINT

    return [
        f for f in findings if f.severity in BLOCKING and (f.status == "fail" or f.missing_evidence) and not waived(f)
    ]


def exit_code(findings: list[Finding], allow_skipped: bool = False) -> int:
    return 1 if blocking(findings, allow_skipped) else 0
