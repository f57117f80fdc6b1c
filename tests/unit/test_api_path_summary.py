"""benchmarks.api_path's summaries: the added time is split into parts a reader can check against the table."""

from __future__ import annotations

import json

from benchmarks.api_path import breakdown, cpu_per_request, dump, excess, pct, summarise
from benchmarks.report_api_path import api_path_section


def _samples(ms: dict[str, float], rnd: int = 0, drift: float = 0.0) -> list[dict]:
    """Three identical samples per (variant/path) for every kind, each variant with plain_pg beside it; `drift`
    ms added to everything measured in the variant's turn (the machine got busier)."""
    out = []
    for key, value in ms.items():
        variant, _, path = key.partition("/")
        if not path:
            continue
        for kind in ("qido_rs", "wado_rs", "rendered"):
            for p, v in ((path, value), ("plain_pg", ms["plain_pg"])):
                out.append({"round": rnd, "variant": variant, "path": p, "kind": kind,
                            "ms": [v + drift] * 3})  # fmt: skip
    return out


FIGURES = {
    "no_plugin/nginx": 3.4,
    "product/nginx": 5.0,
    "product/direct": 4.0,
    "no_plugin/direct": 3.0,
    "empty_filter/direct": 3.3,
    "no_basic_auth/direct": 3.9,
    "no_access_syslog/nginx": 4.8,
    "sink_nice/nginx": 4.7,
    "plain_pg": 2.5,
}


def test_the_added_time_is_split_into_nginx_plugin_authentication_and_what_is_left() -> None:
    parts = breakdown(excess(_samples(FIGURES)))["wado_rs"]
    assert parts["added_over_plain_pg"] == 2.5
    assert parts["nginx_hop"] == 1.0
    assert parts["nginx_hop_without_plugin"] == 0.4
    assert parts["access_syslog"] == 0.2
    assert parts["sink_waits"] == 0.3
    assert parts["plugin"] == 1.0
    assert parts["plugin_python_call"] == 0.3
    assert parts["plugin_guard"] == 0.7
    assert parts["basic_auth"] == 0.1
    assert parts["gdcm"] is None  # a stack without GDCM has no such variant
    assert parts["rest"] == 0.4  # 2.5 - (1.0 nginx + 1.0 plugin + 0.1 authentication)


def test_each_variant_is_compared_with_plain_pg_measured_beside_it_so_drift_cancels() -> None:
    calm = _samples({"product/direct": 4.0, "plain_pg": 2.5})
    busy = _samples({"no_plugin/direct": 3.0, "plain_pg": 2.5}, drift=1.0)  # its turn came while the machine was busy
    over = excess(calm + busy)
    assert over["product/direct"]["wado_rs"] == 1.5
    assert over["no_plugin/direct"]["wado_rs"] == 0.5
    assert breakdown({**over, "product/nginx": {"wado_rs": 2.0}})["wado_rs"]["plugin"] == 1.0


def test_the_median_over_rounds_is_taken_of_each_rounds_difference() -> None:
    rounds = [_samples({"product/nginx": 5.0 + d, "plain_pg": 2.5}, rnd=n) for n, d in enumerate((0.0, 3.0, 0.2))]
    assert excess([s for r in rounds for s in r])["product/nginx"]["qido_rs"] == 2.7


def test_plain_pg_is_pooled_over_every_variant_it_ran_beside() -> None:
    samples = [
        {"round": 0, "variant": "product", "path": "plain_pg", "kind": "wado_rs", "ms": [1.0, 2.0]},
        {"round": 0, "variant": "no_plugin", "path": "plain_pg", "kind": "wado_rs", "ms": [3.0]},
    ]
    assert summarise(samples) == {"plain_pg": {"wado_rs": pct([1.0, 2.0, 3.0])}}
    assert pct([1.0, 2.0, 3.0])["p50_ms"] == 2.0


def test_cpu_per_request_names_the_benchmark_client_and_puts_the_largest_first() -> None:
    before = {"nginx": 1.0, "python3": 0.5}
    after = {"nginx": 1.1, "python3": 0.7, "orthanc (incl. plugin)": 0.3}
    assert cpu_per_request(before, after, 100) == {"orthanc (incl. plugin)": 3.0, "benchmark client": 2.0, "nginx": 1.0}


def test_the_report_states_whether_the_goal_is_met_and_every_part() -> None:
    samples = _samples(FIGURES)
    p50 = summarise(samples)
    result = {
        "instances": 40, "requests": 30, "rounds": 2, "p50": p50,
        "machine_before": {"load_average_1min": 0.5}, "machine_after": {"load_average_1min": 0.7},
        "breakdown": breakdown(excess(samples)),
        "as_shipped": {"nginx": {"cpu_ms_per_request": {"nginx": 0.2}, "orthanc_log_lines_per_request": 0.0},
                       "direct": {"cpu_ms_per_request": {}, "orthanc_log_lines_per_request": 0.0}},
    }  # fmt: skip
    text = "\n".join(api_path_section(result))
    assert "is NOT within the 2 ms goal: largest 2.50 ms." in text
    assert "Goal: added p50 <= 2 ms per request: met" not in text  # judged against plain Orthanc, not here
    assert "| the RBAC/audit plugin (with minus without) | 1.00 | 1.00 | 1.00 |" in text
    assert "| nginx | 0.20 | - |" in text
    assert "the GDCM plugin" not in text.split("Where the added")[1]  # no variant, no row
    assert "WADO-RS, 2.50 ms added: nginx with TLS takes 0.40 ms when nothing waits for the audit sink" in text


def test_a_part_smaller_than_half_the_rounds_spread_is_called_not_measurable() -> None:
    over = excess(_samples({**FIGURES, "no_gdcm/direct": 4.05}))
    result = {"instances": 1, "requests": 1, "rounds": 2, "p50": {}, "breakdown": breakdown(over),
              "machine_before": {"load_average_1min": 0.1}, "machine_after": {"load_average_1min": 0.1}}  # fmt: skip
    wide = "\n".join(api_path_section({**result, "added_by_round": {"wado_rs": [1.0, 3.0]}}))
    assert "Basic authentication 0.10 ms, GDCM -0.05 ms: against the added time's own spread" in wide
    assert "these are not measurable" in wide
    narrow = "\n".join(api_path_section({**result, "added_by_round": {"wado_rs": [2.45, 2.55]}}))
    assert "not measurable" not in narrow


def test_the_results_file_reads_back_as_written() -> None:
    result = {"requests": 2, "p50": {"plain_pg": {"wado_rs": pct([1.0, 2.0])}}, "samples": _samples(FIGURES)}
    assert json.loads(dump(result)) == result
