"""Findings in the formats CI tools read: table, json, sarif, junit, html (DESIGN.md contract)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI needs ReportFormat for its options long before it needs the catalog
    from policies.model import Control, Finding


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"
    junit = "junit"
    html = "html"


@dataclass(frozen=True)
class ReportContext:
    """What every report needs besides the findings."""

    layer: str  # plan | cloud | wire
    target: str  # stack name or target description
    controls: tuple[Control, ...]
    source_file: str = ""  # the stack file results point at
    resource_urns: dict[str, str] = field(default_factory=dict)  # resource name -> URN
    resource_files: dict[str, tuple[str, int]] = field(default_factory=dict)  # resource name -> (component file, line)
    summary: dict[str, int] = field(default_factory=dict)  # figures a report carries whole (verify's attack cases)
    notes: tuple[str, ...] = ()  # what the run waived (e.g. --allow-skipped), printed in every format

    def control(self, control_id: str) -> Control:
        return next(c for c in self.controls if c.id == control_id)


def sort_key(f: Finding) -> tuple:
    from policies.model import SEVERITY_ORDER

    order = {"fail": 0, "error": 1, "skipped": 2, "pass": 3}
    return (order[f.status], SEVERITY_ORDER[f.severity], f.control, f.resource)


def allowed_skips_note(findings: list[Finding], what: str = "the endpoint lacks an API") -> tuple[str, ...]:
    """What --allow-skipped let through, said in every report format so a green run shows what it did not prove."""
    from policies.model import BLOCKING, ENDPOINT

    waived = sorted({f.control for f in findings if f.status == "skipped" and f.cause == ENDPOINT
                     and f.severity in BLOCKING})  # fmt: skip
    return (
        f"--allow-skipped: critical/high controls skipped because {what} do not fail this run"
        + (f" (not proven: {', '.join(waived)})" if waived else " (none was skipped)"),
    )
