"""benchmarks.ingest_path switches the plugin's parts off in copies of the plugin script: every edit must still
find its line in today's plugin, once, and leave a script Python compiles (else the benchmark measures nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.ingest_path import PLUGIN_EDITS, main

PLUGIN = Path(__file__).resolve().parents[2] / "orthanc_config" / "plugin" / "pacsguard_plugin.py"


@pytest.mark.parametrize("variant", sorted(PLUGIN_EDITS))
def test_each_plugin_variant_edits_one_line_of_todays_plugin(variant: str) -> None:
    source = PLUGIN.read_text()
    old, new = PLUGIN_EDITS[variant]
    assert source.count(old) == 1
    compile(source.replace(old, new), f"{variant}.py", "exec")


def test_a_run_that_the_timed_totals_cannot_split_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--instances", "140"])
    assert exc.value.code == 2
    assert "multiple of 25" in capsys.readouterr().err
