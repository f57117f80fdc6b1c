"""SARIF 2.1.0 as GitHub code scanning accepts it: rules with help, results with levels and locations."""

from __future__ import annotations

import hashlib
import json

from pacsguard import __version__
from pacsguard.reports import ReportContext
from policies.model import Finding

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
# GitHub ranks code-scanning alerts by this property (0.1-10).
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


def render(findings: list[Finding], ctx: ReportContext) -> str:
    rules, index = [], {}
    for ctl in ctx.controls:
        index[ctl.id] = len(rules)
        cites = [
            *ctl.citations.hipaa,
            *ctl.citations.gdpr,
            *ctl.citations.dicom,
            *ctl.citations.ihe,
            *ctl.citations.aws,
        ]
        rules.append(
            {
                "id": ctl.id,
                **({"helpUri": ctl.citations.aws[0]} if ctl.citations.aws else {}),
                "name": ctl.id.title().replace("-", ""),
                "shortDescription": {"text": ctl.title},
                "fullDescription": {"text": ctl.rationale},
                "help": {
                    "text": f"{ctl.remediation}\n\nCitations: {'; '.join(cites)}",
                    "markdown": f"**Remediation:** {ctl.remediation}\n\n**Citations:** "
                    + "; ".join(f"`{c}`" for c in cites),
                },
                "defaultConfiguration": {"level": LEVEL[ctl.severity]},
                "properties": {
                    "tags": ["security", ctl.family, *ctl.citations.hipaa],
                    "security-severity": SECURITY_SEVERITY[ctl.severity],
                    "precision": "high",
                },
            }
        )
    results = []
    for f in findings:
        if f.status not in ("fail", "error"):
            continue
        uri, line = ctx.resource_files.get(f.resource, (ctx.source_file, 1))
        fqn = ctx.resource_urns.get(f.resource, f.resource)
        results.append(
            {
                "ruleId": f.control,
                "ruleIndex": index[f.control],
                "level": "error" if f.status == "error" else LEVEL[f.severity],
                "message": {"text": f"{f.resource}: {f.message}"},
                "locations": [
                    {
                        "physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": line}},
                        "logicalLocations": [{"name": f.resource, "fullyQualifiedName": fqn, "kind": "resource"}],
                    }
                ],
                "partialFingerprints": {
                    "pacsguard/v1": hashlib.sha256(f"{ctx.target}|{f.control}|{fqn}".encode()).hexdigest()[:32]
                },
            }
        )
    doc = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "PACSGuard",
                        "version": __version__,
                        "informationUri": "https://github.com/pacsguard/pacsguard",
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"pacsguard/{ctx.layer}/{ctx.target}/"},
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": [{"level": "warning", "message": {"text": n}} for n in ctx.notes],
                    }
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2)
