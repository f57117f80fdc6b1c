"""The plan section of docs/performance.md is what benchmarks/report.py renders from the committed results."""

from __future__ import annotations

import json

from benchmarks.report import DOCS, RESULTS, plan_section


def test_the_plan_figures_in_the_doc_come_from_the_benchmark_results() -> None:
    timing = json.loads((RESULTS / "plan_timing.json").read_text())
    section = "\n".join(plan_section(timing))
    assert section in (DOCS / "performance.md").read_text(), "regenerate: .venv/bin/python -m benchmarks.report"
    for figure in timing["cli"].values():
        assert f"| {figure['median_wall_s']:.2f} | {figure['median_cpu_s']:.2f} |" in section


def test_the_section_says_what_the_machine_was_doing() -> None:
    timing = json.loads((RESULTS / "plan_timing.json").read_text())
    timing["load_average_1m_before"] = 0.3
    text = "\n".join(plan_section(timing))
    assert "load average was 0.3 before" in text and "The CLI runs wrote bytecode, as a user's install does." in text
    timing["machine"]["children_write_bytecode"], timing["machine"]["PYTHONDONTWRITEBYTECODE"] = False, ""
    assert "PYTHONDONTWRITEBYTECODE was unset for these runs." in "\n".join(plan_section(timing))
