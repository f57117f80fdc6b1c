"""docs/controls.md, generated from the catalog (a test fails when the file is out of date)."""

from __future__ import annotations

from policies.model import Control

HEADER = """# PACSGuard control catalog

Generated from `policies/` by `pacsguard controls --format markdown`; do not edit by hand.
Severity drives the exit code: a failing `critical` or `high` control makes a run exit 1.
"""


def render_markdown(controls: tuple[Control, ...]) -> str:
    lines = [HEADER, f"{len(controls)} controls.", ""]
    lines += ["| id | title | severity | HIPAA | GDPR | DICOM / IHE | layers |", "|---|---|---|---|---|---|---|"]
    for c in controls:
        hipaa, gdpr = "<br>".join(c.citations.hipaa), "<br>".join(c.citations.gdpr)
        other = "<br>".join([*c.citations.dicom, *c.citations.ihe])
        lines.append(f"| `{c.id}` | {c.title} | {c.severity} | {hipaa} | {gdpr} | {other} | {', '.join(c.layers)} |")
    for family in dict.fromkeys(c.family for c in controls):
        lines += ["", f"## {family.title()}"]
        for c in (x for x in controls if x.family == family):
            eq = ", ".join(f"{k}: `{v}`" for k, v in c.equivalents.items()) or "none"
            lines += [
                "",
                f"### {c.id}: {c.title}",
                "",
                f"- Severity: **{c.severity}**; checked at: {', '.join(c.layers)}",
                f"- Why: {c.rationale}",
                f"- Fix: {c.remediation}",
                f"- Equivalents: {eq}",
                *([f"- AWS documentation: {', '.join(c.citations.aws)}"] if c.citations.aws else []),
            ]
    return "\n".join(lines) + "\n"


def as_json(c: Control) -> dict:
    return {
        "id": c.id,
        "title": c.title,
        "family": c.family,
        "severity": c.severity,
        "rationale": c.rationale,
        "remediation": c.remediation,
        "citations": c.citations.as_dict(),
        "equivalents": c.equivalents,
        "layers": list(c.layers),
    }
