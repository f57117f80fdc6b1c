"""Run every plan check over a resource graph and turn outcomes into findings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from policies.catalog import controls
from policies.graph import PlanGraph
from policies.model import BLOCKING, Control, Finding


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
        findings += [Finding(ctl.id, o.status, ctl.severity, o.resource, o.message) for o in outcomes]
    return findings


def summary(findings: list[Finding]) -> dict[str, object]:
    status = Counter(f.status for f in findings)
    failed_controls = sorted({f.control for f in findings if f.status == "fail"})
    blocking = sorted({f.control for f in findings if f.status == "fail" and f.severity in BLOCKING})
    return {
        "findings": dict(sorted(status.items())),
        "controls_checked": len({f.control for f in findings}),
        "controls_failed": failed_controls,
        "blocking": blocking,
    }


def exit_code(findings: list[Finding]) -> int:
    return 1 if any(f.status == "fail" and f.severity in BLOCKING for f in findings) else 0
