"""verify counts attack cases (one per posture probe) and says how many held, in JSON, JUnit and the README."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from benchmarks.posture_cases import MARKERS, README, RESULTS, sentence
from pacsguard.reports import ReportContext
from pacsguard.reports.junit import render
from pacsguard.verify import attack_cases
from policies.catalog import controls
from policies.model import Finding


def finding(probe: str, status: str, control: str = "PACS-RBAC") -> Finding:
    return Finding(control, status, "critical", probe, "m")


def test_a_case_holds_only_when_every_control_it_evidences_passed() -> None:
    findings = [
        finding("a", "pass"),
        finding("b", "pass"),
        finding("b", "fail", "HOST-FIREWALL"),
        finding("c", "skipped"),
        finding("d", "error"),
    ]
    assert attack_cases(findings) == {"ran": 3, "held": 1, "skipped": 1}


def test_junit_carries_the_attack_case_figures() -> None:
    ctx = ReportContext(layer="wire", target="t", controls=controls(), summary={"attack_cases_ran": 3})
    root = ET.fromstring(render([finding("a", "pass")], ctx).encode())  # noqa: S314 (our own report)
    assert root.find("properties/property").attrib == {"name": "attack_cases_ran", "value": "3"}


def test_readme_states_the_measured_figure() -> None:
    result = json.loads(Path(RESULTS).read_text())
    m = MARKERS.search(README.read_text())
    assert m and sentence(result) in m.group(0), "README is stale: run `python -m benchmarks.posture_cases`"


def test_the_measured_figure_counts_every_case_the_suite_has_now() -> None:
    """README and results can agree and both be stale: a figure measured before cases were added (104 ran, 2
    skipped, while the suite had grown to 137 cases) passed the test above. ran + skipped must be the number of
    attack cases the posture suite collects today (one per test name and parameter, as attack_cases counts)."""
    import subprocess
    import sys

    from pacsguard.verify import SUITE

    cmd = [sys.executable, "-m", "pytest", str(SUITE), "--collect-only", "-q", "-p", "pacsguard.verify_plugin",
           "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(SUITE)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=SUITE, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    cases = {line.rsplit("::", 1)[-1] for line in proc.stdout.splitlines() if "::" in line}
    result = json.loads(Path(RESULTS).read_text())
    assert result["ran"] + result["skipped"] == len(cases), (
        f"benchmarks/results/posture_cases.json counts {result['ran']} + {result['skipped']} cases, the suite has "
        f"{len(cases)}: rerun `python -m benchmarks.posture_cases` against a local stack"
    )
