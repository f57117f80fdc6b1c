"""The terminal view: a summary per control and the failing resources, worst first."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.table import Table

from pacsguard.reports import ReportContext
from policies.model import SEVERITY_ORDER, Finding

STYLE = {"fail": "bold red", "error": "yellow", "skipped": "dim", "pass": "green"}


def print_findings(findings: list[Finding], ctx: ReportContext, console: Console) -> None:
    by_control: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_control[f.control].append(f)
    table = Table(title=f"{ctx.layer} checks: {ctx.target}")
    for col in ("control", "severity", "status", "resources", "detail"):
        table.add_column(col)

    def worst(items: list[Finding]) -> str:
        for s in ("fail", "error", "skipped"):
            if any(f.status == s for f in items):
                return s
        return "pass"

    ordered = sorted(by_control.items(), key=lambda kv: (["fail", "error", "skipped", "pass"].index(worst(kv[1])),
                                                          SEVERITY_ORDER[kv[1][0].severity], kv[0]))  # fmt: skip
    for cid, items in ordered:
        status = worst(items)
        bad = [f for f in items if f.status == status]
        detail = (
            "; ".join(f"{f.resource}: {f.message}" for f in bad[:3]) if status != "pass" else ctx.control(cid).title
        )
        table.add_row(cid, items[0].severity, f"[{STYLE[status]}]{status}[/]", str(len(items)), detail)
    console.print(table)
    counts = {s: sum(1 for f in findings if f.status == s) for s in ("fail", "error", "skipped", "pass")}
    failing = sorted({f.control for f in findings if f.status == "fail"})
    console.print(
        f"{len(by_control)} controls, {len(findings)} results: "
        + ", ".join(f"[{STYLE[s]}]{n} {s}[/]" for s, n in counts.items())
        + (f". Failing: {', '.join(failing)}" if failing else ". No control fails.")
    )
    for note in ctx.notes:
        console.print(f"[yellow]Note:[/] {note}", markup=True, highlight=False)
