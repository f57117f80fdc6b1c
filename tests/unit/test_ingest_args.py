"""`benchmarks.ingest` refuses more associations than instances (exit 2) before it starts any stack: with
`--multiframe 4 --parallel 8` it used to bring up four targets and then fail in storescu ("Missing parameter")."""

from __future__ import annotations

import pytest

from benchmarks import ingest


def test_more_associations_than_instances_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stop:
        ingest.main(["--multiframe", "4", "--parallel", "1", "8"])
    assert stop.value.code == 2
    assert "4 instances cannot keep 8 associations busy" in capsys.readouterr().err
