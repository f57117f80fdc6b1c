"""A self-contained HTML report (no external assets) that groups results by HIPAA section."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from html import escape

from pacsguard.reports import ReportContext, sort_key
from policies.model import Finding

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#1d2330}
h1{font-size:1.6em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccd}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #e4e6ee;vertical-align:top}
.pass{color:#176b2c}.fail{color:#b01c1c;font-weight:600}.skipped,.error{color:#8a5a00}
.badge{display:inline-block;padding:.1em .6em;border-radius:1em;background:#eef;margin-right:.4em}
small{color:#667}
"""


def render(findings: list[Finding], ctx: ReportContext) -> str:
    by_control: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_control[f.control].append(f)
    sections: dict[str, list[str]] = defaultdict(list)
    for ctl in ctx.controls:
        other = "Deployability (AWS create-time constraints)" if ctl.family == "deployability" else None
        for section in ctl.citations.hipaa or (other or "Not a HIPAA section (GDPR, DICOM, IHE)",):
            sections[section].append(ctl.id)
    totals = Counter(f.status for f in findings)
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        f"<title>PACSGuard {escape(ctx.layer)} report: {escape(ctx.target)}</title><style>{STYLE}</style>",
        f"<h1>PACSGuard {escape(ctx.layer)} report: {escape(ctx.target)}</h1>",
        f"<p><small>{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}</small></p><p>",
        *(f"<span class='badge {s}'>{s}: {totals.get(s, 0)}</span>" for s in ("fail", "error", "skipped", "pass")),
        "</p>",
        *(f"<p class=note><b>Note:</b> {escape(n)}</p>" for n in ctx.notes),
    ]
    for section in sorted(sections):
        ids = sections[section]
        status = Counter(f.status for cid in ids for f in by_control.get(cid, []))
        parts.append(
            f"<h2>{escape(section)} <small>{status.get('fail', 0)} failing of {sum(status.values())}</small></h2>"
        )
        parts.append("<table><tr><th>Control</th><th>Severity</th><th>Status</th><th>Resource</th><th>Detail</th></tr>")
        for cid in ids:
            ctl = ctx.control(cid)
            rows = sorted(by_control.get(cid, []), key=sort_key) or []
            for f in rows:
                parts.append(
                    f"<tr><td><b>{escape(cid)}</b><br><small>{escape(ctl.title)}</small></td><td>{escape(ctl.severity)}</td>"
                    f"<td class={f.status}>{f.status}</td><td>{escape(f.resource)}</td><td>{escape(f.message)}"
                    + (f"<br><small>Remediation: {escape(ctl.remediation)}</small>" if f.status == "fail" else "")
                    + "</td></tr>"
                )
        parts.append("</table>")
    parts.append("</html>")
    return "\n".join(parts)
