"""Numbers in README and docs come from the catalog and the answer key, never typed by hand (issue 17, item 6)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from policies.catalog import controls
from policies.catalog_numbers import readme_phrases

ROOT = Path(__file__).resolve().parents[2]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_readme_counts_match_the_catalog() -> None:
    readme = _flat((ROOT / "README.md").read_text())
    missing = [p for p in readme_phrases(controls()) if p not in readme]
    assert not missing, f"README states stale numbers; it should say: {missing}"


def test_docs_controls_md_counts_every_control() -> None:
    assert f"{len(controls())} controls." in (ROOT / "docs" / "controls.md").read_text()


def test_prowler_comparison_doc_matches_its_results_and_the_answer_key() -> None:
    from benchmarks.prowler_doc import DOC, RESULTS, render
    from tests.audit.answer_key import BREAKS

    doc = json.loads(RESULTS.read_text())
    assert DOC.read_text() == render(doc), "docs/audit-vs-prowler.md is stale: run benchmarks.prowler_compare"
    assert [r["break"] for r in doc["rows"]] == [b.name for b in BREAKS], "re-run benchmarks.prowler_compare"
    assert doc["audit_caught"] == doc["breaks"] == len(BREAKS)
