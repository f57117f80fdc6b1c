"""Reports CI tools read: plan findings as SARIF (GitHub code scanning), JUnit and HTML; the catalog doc."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pacsguard.cli import app
from policies.catalog import controls
from policies.catalog_doc import render_markdown
from stacks.loader import read_stack_config

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def insecure_stacks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dev stack that opens HTTPS to the world (explicitly): NET-SG-WORLD must fail, exit 1."""
    d = tmp_path_factory.mktemp("stacks")
    cfg = read_stack_config("dev")
    cfg["pacsguard:https"]["cidrs"] = ["0.0.0.0/0"]
    cfg["pacsguard:web"]["allow_world"] = True
    cfg["pacsguard:web"]["internal"] = False  # the world reaches only an internet-facing ALB
    (d / "Pulumi.open.yaml").write_text(yaml.safe_dump({"config": cfg}))
    return d


def test_docs_controls_md_is_up_to_date() -> None:
    assert (ROOT / "docs" / "controls.md").read_text() == render_markdown(controls()), (
        "docs/controls.md is stale: run `pacsguard controls --format markdown --output docs/controls.md`"
    )


def test_controls_json_lists_citations_and_layers() -> None:
    res = runner.invoke(app, ["controls", "--format", "json"])
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert len(doc) >= 40
    assert set(doc[0]) >= {"id", "title", "severity", "citations", "layers"}
    assert set(doc[0]["citations"]) == {"hipaa", "gdpr", "dicom", "ihe", "aws"}
    deploy = [c for c in doc if c["family"] == "deployability"]
    assert len(deploy) >= 12 and all(c["citations"]["aws"] and c["layers"] == ["plan"] for c in deploy)


def test_plan_json_findings_all_pass_for_prod() -> None:
    res = runner.invoke(app, ["plan", "--stack", "prod", "--format", "json"])
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    statuses = {f["status"] for f in doc["findings"]}
    assert statuses <= {"pass", "skipped"} and "pass" in statuses
    assert set(doc["findings"][0]) == {"control", "status", "severity", "resource", "message"}
    # Deployability rules report with the security controls; each resource lists what it waits for.
    assert {f["control"] for f in doc["findings"] if f["control"].startswith("DEP-") and f["status"] == "pass"}
    assert all(isinstance(r["depends_on"], list) for r in doc["resources"])


def test_world_open_web_entry_fails_the_plan_with_exit_1(insecure_stacks: Path) -> None:
    res = runner.invoke(app, ["plan", "--stack", "open", "--stacks-dir", str(insecure_stacks), "--format", "json"])
    assert res.exit_code == 1
    failing = {f["control"] for f in json.loads(res.stdout)["findings"] if f["status"] == "fail"}
    assert failing == {"NET-SG-WORLD"}


def test_sarif_is_what_github_code_scanning_accepts(insecure_stacks: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.sarif"
    res = runner.invoke(
        app, ["plan", "--stack", "open", "--stacks-dir", str(insecure_stacks), "-f", "sarif", "-o", str(out)]
    )
    assert res.exit_code == 1
    doc = json.loads(out.read_text())
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == {c.id for c in controls()}
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["help"]["text"] and rule["help"]["markdown"]
        assert 0 < float(rule["properties"]["security-severity"]) <= 10
        if rule["id"].startswith("DEP-"):  # a deployability rule links to the AWS page its constraint comes from
            assert rule["helpUri"].startswith("https://docs.aws.amazon.com/")
    assert run["results"], "a failing control must produce a result"
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == "NET-SG-WORLD"
        assert result["level"] == "error" and result["message"]["text"]
        loc = result["locations"][0]["physicalLocation"]
        assert (ROOT / loc["artifactLocation"]["uri"]).is_file()  # the component that declares the resource
        assert loc["region"]["startLine"] >= 1
        assert result["partialFingerprints"]


def test_junit_counts_failures_per_family(insecure_stacks: Path) -> None:
    res = runner.invoke(app, ["plan", "--stack", "open", "--stacks-dir", str(insecure_stacks), "-f", "junit"])
    root = ET.fromstring(res.stdout)  # noqa: S314 (our own report)
    assert root.tag == "testsuites" and int(root.get("failures")) >= 1
    failures = root.findall(".//testcase/failure")
    assert failures and all("NET-SG-WORLD" in tc.get("name") for tc in root.findall(".//testcase[failure]"))
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in root.findall("testsuite"))


def test_html_report_is_self_contained_and_grouped_by_hipaa_section(insecure_stacks: Path) -> None:
    res = runner.invoke(app, ["plan", "--stack", "open", "--stacks-dir", str(insecure_stacks), "-f", "html"])
    page = res.stdout
    assert page.startswith("<!doctype html>")
    assert "src=" not in page and "href=" not in page  # nothing fetched from anywhere
    assert "164.312(e)(1) Transmission security" in page and "<h2>164.312(b) Audit controls" in page
    assert "class=fail>fail" in page and "NET-SG-WORLD" in page


def test_table_summary_names_failing_controls(insecure_stacks: Path) -> None:
    res = runner.invoke(app, ["plan", "--stack", "open", "--stacks-dir", str(insecure_stacks)])
    assert res.exit_code == 1 and "Failing: NET-SG-WORLD" in " ".join(res.stdout.split())
