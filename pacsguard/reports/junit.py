"""JUnit XML: one test suite per control family, one test case per control and resource."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from pacsguard.reports import ReportContext
from policies.model import Finding


def render(findings: list[Finding], ctx: ReportContext) -> str:
    by_family: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_family[ctx.control(f.control).family].append(f)
    root = ET.Element("testsuites", name=f"pacsguard {ctx.layer} {ctx.target}")
    if ctx.summary:
        properties = ET.SubElement(root, "properties")
        for key, value in ctx.summary.items():
            ET.SubElement(properties, "property", name=key, value=str(value))
    totals = defaultdict(int)
    for family, items in sorted(by_family.items()):
        suite = ET.SubElement(root, "testsuite", name=f"{ctx.layer}.{family}")
        if ctx.notes:  # JUnit readers show suite properties; a waiver must not go unseen
            props = ET.SubElement(suite, "properties")
            for note in ctx.notes:
                ET.SubElement(props, "property", name="pacsguard.note", value=note)
        counts = defaultdict(int)
        for f in items:
            ctl = ctx.control(f.control)
            case = ET.SubElement(
                suite, "testcase", classname=f"{ctx.layer}.{family}.{f.control}", name=f"{f.control} {f.resource}"
            )
            if f.status == "fail":
                ET.SubElement(
                    case, "failure", message=f.message, type=f.severity
                ).text = f"{ctl.title}\nRemediation: {ctl.remediation}"
                counts["failures"] += 1
            elif f.status == "error":
                ET.SubElement(case, "error", message=f.message)
                counts["errors"] += 1
            elif f.status == "skipped":
                ET.SubElement(case, "skipped", message=f.message)
                counts["skipped"] += 1
            counts["tests"] += 1
        for key in ("tests", "failures", "errors", "skipped"):
            suite.set(key, str(counts[key]))
            totals[key] += counts[key]
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(totals[key]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
