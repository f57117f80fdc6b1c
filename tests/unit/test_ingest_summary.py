"""The ingest benchmark's ratios carry their rounds' spread: a reader sees how far one figure can be trusted."""

from __future__ import annotations

from benchmarks.ingest import TARGETS, summarise
from benchmarks.report_pacs import _gap_at_most_associations, _ratio


def _runs(rates_per_round: list[dict[str, float]]) -> list[dict]:
    return [
        {"round": n, "target": t, "kind": "ct", "parallel": 8, "seconds": 100 / rate[t], "instances": 100, "mb": 50}
        for n, rate in enumerate(rates_per_round)
        for t in TARGETS
    ]


def test_a_ratio_is_the_median_of_its_rounds_with_their_lowest_and_highest() -> None:
    rounds = [
        {"hardened": 50, "plain_tls": 100, "plain": 100, "plain_pg": 60, "storescp_tls": 200},
        {"hardened": 80, "plain_tls": 100, "plain": 100, "plain_pg": 90, "storescp_tls": 200},
        {"hardened": 60, "plain_tls": 100, "plain": 100, "plain_pg": 70, "storescp_tls": 200},
    ]
    (row,) = summarise(_runs(rounds))
    assert row["hardened_to_plain"] == 0.6
    assert row["hardened_to_plain_range"] == [0.5, 0.8]
    assert _ratio(row, "hardened_to_plain") == "0.60 (0.50-0.80)"


def test_a_results_file_from_before_the_spread_still_renders_its_median() -> None:
    assert _ratio({"hardened_to_plain": 0.45}, "hardened_to_plain") == "0.45"


def test_the_goal_is_judged_on_plain_orthanc_over_mutual_tls_with_the_no_tls_figure_beside_it() -> None:
    """Issue 18 sends storescu over mutual TLS to plain Orthanc too: that is the goal's baseline."""
    rounds = [{"hardened": 80, "plain_tls": 100, "plain": 125, "plain_pg": 90, "storescp_tls": 200}] * 3
    (row,) = summarise(_runs(rounds))
    assert (row["hardened_to_plain_tls"], row["hardened_to_plain"]) == (0.8, 0.64)
    text = " ".join(_gap_at_most_associations([row]))
    assert "hardened / plain over TLS 0.80 (goal 0.9, NOT met; without TLS on plain's side 0.64" in text
