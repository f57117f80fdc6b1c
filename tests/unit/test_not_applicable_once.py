"""A control judging several kinds reports "not applicable" once, with every reason, when none of them applies:
the prod plan printed IAM-MACHINE-TOKENS twice, one row per kind, which read as two separate findings."""

from __future__ import annotations

from policies.facts.kinds import Kind, judged, judged_each
from policies.model import Outcome


def _kind(label: str, facts: list[object]) -> Kind[object]:
    return Kind(label, lambda _g: list(facts), lambda _cx: list(facts))


def _fails(_f: object) -> str | None:
    return "bad"


def test_no_part_applies_gives_one_finding_naming_every_reason() -> None:
    check = judged_each(
        judged(_kind("app client", [object()]), _fails, applies=lambda _f: False, applies_to="machine clients"),
        judged(_kind("listener rule", []), _fails),
    )["plan"]
    assert check.check(None) == [
        Outcome("stack", "skipped", "not applicable: applies to machine clients only; no listener rule in this stack")
    ]


def test_a_part_that_applies_keeps_every_outcome() -> None:
    check = judged_each(
        judged(_kind("app client", [object()]), _fails, applies=lambda _f: False, applies_to="machine clients"),
        judged(_kind("listener rule", [type("Rule", (), {"name": "rule-1"})()]), _fails),
    )["plan"]
    statuses = [(o.resource, o.status) for o in check.check(None)]
    assert statuses == [("stack", "skipped"), ("rule-1", "fail")]
