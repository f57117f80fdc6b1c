"""The ingest benchmark's ratios carry their rounds' spread: a reader sees how far one figure can be trusted."""

from __future__ import annotations

from benchmarks.ingest import TARGETS, summarise
from benchmarks.report_pacs import _ratio


def _runs(rates_per_round: list[dict[str, float]]) -> list[dict]:
    return [
        {"round": n, "target": t, "kind": "ct", "parallel": 8, "seconds": 100 / rate[t], "instances": 100, "mb": 50}
        for n, rate in enumerate(rates_per_round)
        for t in TARGETS
    ]


def test_a_ratio_is_the_median_of_its_rounds_with_their_lowest_and_highest() -> None:
    rounds = [
        {"hardened": 50, "plain": 100, "plain_pg": 60, "storescp_tls": 200},
        {"hardened": 80, "plain": 100, "plain_pg": 90, "storescp_tls": 200},
        {"hardened": 60, "plain": 100, "plain_pg": 70, "storescp_tls": 200},
    ]
    (row,) = summarise(_runs(rounds))
    assert row["hardened_to_plain"] == 0.6
    assert row["hardened_to_plain_range"] == [0.5, 0.8]
    assert _ratio(row, "hardened_to_plain") == "0.60 (0.50-0.80)"


def test_a_results_file_from_before_the_spread_still_renders_its_median() -> None:
    assert _ratio({"hardened_to_plain": 0.45}, "hardened_to_plain") == "0.45"
