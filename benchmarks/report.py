"""docs/performance.md and docs/performance.png from the JSON under benchmarks/results/."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import report_api_path, report_pacs

RESULTS = Path(__file__).resolve().parent / "results"
DOCS = Path(__file__).resolve().parent.parent / "docs"


def _load(name: str) -> dict | list | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _viewer_section(viewer: dict) -> list[str]:
    from orthanc_config.profile import HostProfile

    limits = HostProfile(name="defaults", mode="local")
    t = viewer["targets"]
    rows = [
        f"| {n} | {t[n]['seconds_median']:.2f} ({min(t[n]['seconds']):.2f}-{max(t[n]['seconds']):.2f}) "
        f"| {t[n]['requests_per_s']:.0f} | {t[n]['rate_limited']} |"
        for n in t
    ]
    return [
        "## Viewer load",
        "",
        f"One study of {viewer['instances']} CT slices (512 x 512, 16 bit) loaded as a web viewer does: the study "
        f"list, the series metadata, then every frame, {viewer['parallel']} requests in parallel; median of "
        f"{viewer['rounds']} rounds in rotating order.",
        "",
        "| target | seconds (fastest-slowest round) | requests/s | 429 answers |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Hardened/plain: **{viewer['ratio_hardened_to_plain']:.2f}** (goal {viewer['goal_ratio']}, "
        f"{'met' if viewer['goal_met'] else 'NOT met'}"
        + (
            f"; hardened / plain Orthanc on PostgreSQL, the hardening's own cost: "
            f"**{viewer['ratio_hardened_to_plain_pg']:.2f}**"
            if "ratio_hardened_to_plain_pg" in viewer
            else ""
        )
        + "; machine load average "
        f"{viewer.get('load_average_1min', float('nan')):.1f} on 2 cores at the end). The hardened side is HTTPS "
        "through nginx as a radiologist, with the RBAC/audit plugin deciding and recording every frame. nginx "
        "limits each signed-in user to "
        f"{limits.rate_limit_per_second} requests/s with a burst of {limits.rate_limit_burst} (a whole 1,000-image "
        "study), and a request that names no user by its address; failed sign-ins lock an address out apart. "
        "Per request the hardened side spends CPU in Orthanc, PostgreSQL, nginx and the audit sink (two records: "
        "the plugin's decision and nginx's access line); the stack profile above has the figures.",
        "",
    ]


def plan_section(timing: dict) -> list[str]:
    """`pacsguard plan` and `--help`: CLI medians against their goals, and what each synthesis measure is worth."""
    m, cli = timing["machine"], timing["cli"]
    names = {
        "help": "`pacsguard --help`",
        "plan_prod_cold": "`pacsguard plan --stack prod --no-cache` (cold: synthesis, API models read, checks)",
        "plan_prod_first_after_install": "cold, the first plan after pulumi-aws is installed or upgraded (its "
        "shared modules cut into per-class slices, then kept)",
        "plan_prod_changed_program": "`pacsguard plan --stack prod` after an edit (synthesis again; API model "
        "enumerations from the cache)",
        "plan_prod_cold_heap_collected": "cold, as the console script was before it froze the plan's heap (the "
        "exiting interpreter collects it)",
        "plan_prod_cached": "`pacsguard plan --stack prod`, unchanged tree (cache hit: no Pulumi SDK, no botocore)",
        "plan_prod_cached_no_bytecode": "cache hit, sources compiled every run (PYTHONDONTWRITEBYTECODE=1, as on "
        "this CI machine)",
    }
    bytecode = (
        "The CLI runs wrote bytecode, as a user's install does"
        if m.get("children_write_bytecode")
        else f"PYTHONDONTWRITEBYTECODE was {m['PYTHONDONTWRITEBYTECODE'] or 'unset'} for these runs"
    )
    lines = [
        "## `pacsguard plan --stack prod` and `pacsguard --help`",
        "",
        f"{m['cpus']} x {m['cpu']}, Python {m['python']}; the 1-minute load average was "
        f"{timing['load_average_1m_before']:.1f} before and {timing['load_average_1m_after']:.1f} after: other "
        "engineers' test suites shared the machine, so wall times run above CPU times (CPU times are the steadier "
        f"figure). Medians of fresh processes. {bytecode}.",
        "",
        "| command | median wall (s) | median CPU (s) | fastest wall (s) | runs | goal (s) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {names[k]} | {r['median_wall_s']:.2f} | {r['median_cpu_s']:.2f} | {r['min_wall_s']:.2f} | {r['runs']} "
        f"| {timing['goals_s'][k]} |"
        for k, r in cli.items()
    ]
    variants = timing["synthesis_fresh_interpreter"]
    lines += [
        "",
        "Synthesis of prod in a fresh interpreter (imports included, the interpreter's exit not), with the "
        "synthesis measures switched off one at a time: a service package imported whole (`infra/synth_imports.py` "
        "loads a name's module on first use instead); every class of a service's shared `_inputs.py`/`outputs.py` "
        "run (`infra/synth_slices.py` runs only the classes used, from slices cut once per pulumi-aws version and "
        "kept in the plan cache folder); the SDK's walk of the Python stack for every resource, which the mocks "
        "drop (`infra/synth_sdk.py` skips it); and the cyclic garbage collector left running (`infra/synth_gc.py` "
        "pauses it while the SDK's several hundred thousand objects are created).",
        "",
        "| synthesis | median wall (s) | median CPU (s) |",
        "|---|---|---|",
    ]
    lines += [f"| {label} | {r['median_wall_s']:.2f} | {r['median_cpu_s']:.2f} |" for label, r in variants.items()]
    p = timing["in_process"]["prod"]
    lines += [
        "",
        f"Once the imports are paid, a warm synthesis of prod ({p['resources']} resources) takes "
        f"{p['synth_warm_median_s']:.2f} s and every plan check {p['checks_median_s'] * 1000:.1f} ms "
        f"({p['findings']} findings).",
        "",
    ]
    return lines


def main() -> None:
    lines = [
        "# Performance",
        "",
        "Generated by `make bench` (`benchmarks/`) on the project's 2-core machine; results as JSON in",
        "`benchmarks/results/`. Every server ran on loopback or in the project's own network namespaces.",
        "",
    ]
    lines += [report_pacs.SHARED_MACHINE, ""]
    ingest = _load("ingest")
    if ingest:
        lines += report_pacs.ingest_section(ingest)
    profile = _load("stack_profile")
    if profile:
        lines += report_pacs.profile_section(profile)
    lines += report_pacs.ingest_path_section(_load("ingest_path"), _load("dicom_edge"), profile)  # type: ignore[arg-type]
    index = _load("index_path")
    if index:
        lines += report_pacs.index_path_section(index)
    query = _load("query")
    if query:
        lines += report_pacs.query_section(query, _load("audit_sink"), profile)
    api_path = _load("api_path")
    if api_path:
        lines += report_api_path.api_path_section(api_path)
    viewer = _load("viewer_load")
    if viewer:
        lines += _viewer_section(viewer)
    scale = _load("scale")
    if scale:
        lines += report_pacs.scale_section(scale)
    scale_100k = _load("scale_100k")
    if scale_100k:
        lines += report_pacs.scale_section(scale_100k, "performance-scale-100k.png", "make bench-scale")
    edge = _load("dicom_edge")
    if edge:
        d, e = edge["targets"]["direct"], edge["targets"]["edge"]
        lines += [
            "## DICOM edge: nginx stream TLS vs Orthanc's own TLS",
            "",
            f"{edge['sender']}: {edge['parallel_associations']} parallel associations storing "
            f"{edge['files_per_round']} CT slices per round, {edge['rounds']} interleaved rounds; "
            f"{edge['echoes']} C-ECHOs each (a new association and TLS handshake every time).",
            "",
            "| path | ingest MB/s | instances/s | C-ECHO p50 / p95 (ms) |",
            "|---|---|---|---|",
            f"| Orthanc's own DICOM TLS (direct) | {d['mb_per_s']:.1f} | {d['instances_per_s']:.1f} | "
            f"{d['echo_p50_ms']:.1f} / {d['echo_p95_ms']:.1f} |",
            f"| nginx stream edge -> Orthanc on loopback | {e['mb_per_s']:.1f} | {e['instances_per_s']:.1f} | "
            f"{e['echo_p50_ms']:.1f} / {e['echo_p95_ms']:.1f} |",
            "",
            f"Edge/direct ingest (median of the rounds' ratios): **{edge['ingest_ratio_edge_to_direct']:.2f}** "
            f"(goal >= 0.9); C-ECHO p50 overhead: "
            f"**{edge['echo_p50_overhead_ms']:.1f} ms** (goal <= 5). Both Orthancs share one configuration apart "
            "from where TLS ends (SQLite, no plugin), so the difference is the edge's extra hop. The rounds' ratios "
            f"ranged {min(edge['ingest_round_ratios']):.2f}-{max(edge['ingest_round_ratios']):.2f}"
            + (
                f"; the machine's 1-minute load average was {edge['load_average_1min'][0]:.1f} at the start and "
                f"{edge['load_average_1min'][1]:.1f} at the end"
                if "load_average_1min" in edge
                else ""
            )
            + ".",
            "",
        ]
    scaling = _load("plan_scaling")
    if scaling:
        lines += [
            "## Plan scaling",
            "",
            "| AZs | hosts | resources | synthesis (s) | all plan checks (ms) |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['zones']} | {r['hosts']} | {r['resources']} | {r['synth_s']:.2f} | {r['checks_s'] * 1000:.1f} |"
            for r in scaling
        ]
        lines += [
            "",
            "Hosts are one auto scaling group, so their number does not add resources; a third AZ adds subnets, "
            "route tables, a NAT gateway and mount targets (+11 resources). The checks stay in milliseconds.",
            "",
        ]
    timing = _load("plan_timing")
    if timing:
        lines += plan_section(timing)
    audit = _load("audit_timing")
    if audit:
        lines += [
            "## `pacsguard audit` on an emulated account",
            "",
            f"{audit['audit_median_s']:.2f} s for a whole prod stack's worth of resources on moto "
            f"({audit['distinct_operations']} distinct API operations, {audit['findings']} findings).",
            "",
        ]
    boot = _load("rehearsal_boot")
    if boot:
        runs = ", ".join(f"{t:.1f}" for t in boot["boot_seconds"])
        lines += [
            "## One EC2 instance up (rehearsal)",
            "",
            f"From launch to healthy (HTTPS answering through nginx): median **{boot['median_s']:.1f} s**, "
            f"slowest {boot['max_s']:.1f} s (goal under {boot['goal_s']} s); runs: {runs} s. An emulated instance "
            "(`make rehearse`) runs the dev plan's user data with the Debian packages already installed: the bundle "
            "from S3, the bootstrap under /usr/bin/python3, the stack CA and the database role from Secrets Manager, "
            "the services. The first run also creates the stack CA and the application role. A real EC2 boot adds "
            "the instance start, cloud-init and, on a plain Debian AMI, the packages' download and install.",
            "",
        ]
    (DOCS / "performance.md").write_text("\n".join(lines))
    print(f"wrote {DOCS / 'performance.md'}")


if __name__ == "__main__":
    main()
