"""The plan report: the captured resource graph plus findings, as DESIGN.md's JSON or a table."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from infra.synth_model import Synthesis

if TYPE_CHECKING:
    from rich.console import Console


def plan_document(synth: Synthesis, findings: list[dict[str, Any]]) -> dict[str, Any]:
    status = Counter(f["status"] for f in findings)
    return {
        "stack": synth.stack,
        "resources": [r.as_json() for r in synth.resources],
        "findings": findings,
        "summary": {
            "resources": len(synth.resources),
            "protected": sum(r.protect for r in synth.resources),
            "findings": dict(sorted(status.items())),
        },
    }


def print_plan_table(doc: dict[str, Any], console: Console, *, with_findings: bool = True) -> None:
    from rich.table import Table  # here, not at the top: a JSON plan draws no table

    counts = Counter(r["type"] for r in doc["resources"])
    table = Table(title=f"Stack {doc['stack']}: {len(doc['resources'])} resources", show_lines=False)
    table.add_column("resource type")
    table.add_column("count", justify="right")
    table.add_column("protected", justify="right")
    for rtype, n in sorted(counts.items()):
        protected = sum(1 for r in doc["resources"] if r["type"] == rtype and r["protect"])
        table.add_row(rtype, str(n), str(protected) if protected else "")
    console.print(table)
    if not with_findings:
        return
    if doc["findings"]:
        ft = Table(title="Findings")
        for col in ("control", "status", "severity", "resource", "message"):
            ft.add_column(col)
        for f in doc["findings"]:
            ft.add_row(f["control"], f["status"], f["severity"], f["resource"], f["message"])
        console.print(ft)
    else:
        console.print("[dim]No plan checks ran: the control catalog has none yet.[/dim]")
